# SPDX-License-Identifier: GPL-2.0-or-later
"""The EC2 proxy of the lab records, forwards and faults as the agent tests
need, and verify_sigv4 tells a good Signature Version 4 from a bad one, for
botocore's signer and for curl's (CURLOPT_AWS_SIGV4, what the agent uses).
"""
import dataclasses
import shutil
import subprocess
import threading
import time

import boto3
import botocore.config
import botocore.exceptions
import pytest

from vrlab.ec2proxy import Ec2Proxy, Headers, verify_sigv4
from vrlab.emulators import REGION, TEST_KEY_ID, TEST_SECRET, Moto

# botocore's retries "max_attempts" counts the retries after the first attempt
# (max_attempts=1 means two requests); total_max_attempts counts them all.
NO_RETRY = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                  connect_timeout=2, read_timeout=5)
TOKEN = "vpcroute-session-token/with+odd=chars"
QUERY = b"Action=DescribeVpcs&Version=2016-11-15"


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    m = Moto(str(tmp_path_factory.mktemp("moto")))
    yield m
    m.stop()


@pytest.fixture
def proxy(moto, tmp_path):
    p = Ec2Proxy(moto.url, str(tmp_path), credentials={TEST_KEY_ID: TEST_SECRET})
    yield p
    p.stop()


def ec2(proxy, token=None, secret=TEST_SECRET, config=NO_RETRY):
    return boto3.client("ec2", endpoint_url=proxy.url, region_name=REGION,
                        aws_access_key_id=TEST_KEY_ID, aws_secret_access_key=secret,
                        aws_session_token=token, config=config)


def curl_has_sigv4():
    if not shutil.which("curl"):
        return False
    out = subprocess.run(["curl", "--help", "all"], capture_output=True, text=True).stdout
    return "--aws-sigv4" in out


def curl_post(proxy, token=None, body=QUERY):
    cmd = ["curl", "-s", "--noproxy", "*", "--max-time", "5",
           "--aws-sigv4", f"aws:amz:{REGION}:ec2", "--user", f"{TEST_KEY_ID}:{TEST_SECRET}"]
    if token is not None:
        cmd += ["-H", f"X-Amz-Security-Token: {token}"]
    cmd += ["--data-binary", body.decode(), f"{proxy.url}/"]
    return subprocess.run(cmd, capture_output=True, timeout=10)


def signed_headers(call):
    auth = call.headers.get_ci("Authorization")
    return auth.split("SignedHeaders=")[1].split(",")[0].split(";")


def test_records_and_verifies(proxy):
    t0 = time.monotonic()
    vpcs = ec2(proxy).describe_vpcs()["Vpcs"]
    assert vpcs, "moto answers through the proxy"
    assert proxy.actions() == ["DescribeVpcs"]
    assert proxy.count("DescribeVpcs", since=t0) == 1
    assert proxy.actions(mutating_only=True) == []
    call = proxy.calls[0]
    assert call.method == "POST" and call.path == "/"
    assert call.status == 200 and not call.faulted
    assert call.params["Version"] == "2016-11-15"
    assert call.headers.get_ci("x-amz-date") == call.headers["X-Amz-Date"]

    ok, detail = verify_sigv4(call, TEST_SECRET, access_key=TEST_KEY_ID)
    assert ok, detail
    ok, detail = verify_sigv4(call, "not-the-secret")
    assert not ok and "signature mismatch" in detail
    ok, detail = verify_sigv4(dataclasses.replace(call, body=call.body + b"&DryRun=true"),
                              TEST_SECRET)
    assert not ok and "signature mismatch" in detail
    ok, detail = verify_sigv4(call, TEST_SECRET, region="eu-west-1")
    assert not ok and "region" in detail

    # A mutating call is told apart.
    ec2(proxy).create_vpc(CidrBlock="10.9.0.0/16")
    assert proxy.actions(mutating_only=True) == ["CreateVpc"]
    assert proxy.count() == 2
    proxy.clear()
    assert proxy.count() == 0 and proxy.actions() == []


def test_session_token(proxy):
    client = ec2(proxy, token=TOKEN)
    client.describe_vpcs()
    call = proxy.calls[-1]
    assert call.headers.get_ci("X-Amz-Security-Token") == TOKEN
    assert "x-amz-security-token" in signed_headers(call)
    ok, detail = verify_sigv4(call, TEST_SECRET)
    assert ok, detail

    # The token changed after signing: moto does not check, the verifier does.
    def alter_token(request, **kwargs):
        request.headers["X-Amz-Security-Token"] = "another-token"

    client.meta.events.register("before-send.ec2.DescribeVpcs", alter_token)
    client.describe_vpcs()
    call = proxy.calls[-1]
    assert call.headers.get_ci("X-Amz-Security-Token") == "another-token"
    ok, detail = verify_sigv4(call, TEST_SECRET)
    assert not ok and "signature mismatch" in detail
    # the check after every test finds it too; here it is on purpose
    with pytest.raises(AssertionError, match="1 of 2 requests do not verify"):
        proxy.check_signatures()
    call.expected_invalid = True

    # A token that is sent but not signed is caught as such.
    h = Headers(call.headers)
    h["Authorization"] = h["Authorization"].replace(";x-amz-security-token", "")
    ok, detail = verify_sigv4(dataclasses.replace(call, headers=h), TEST_SECRET)
    assert not ok and "X-Amz-Security-Token present but not in SignedHeaders" in detail


def test_every_request_checked(proxy):
    """check_signatures() (run on every proxy after every lab test) fails on a
    tampered signature, an unknown key and an unsigned request."""
    ec2(proxy).describe_vpcs()
    proxy.check_signatures()
    good = proxy.calls[-1]
    h = Headers(good.headers)
    sig = h["Authorization"].rsplit("Signature=", 1)[1]
    h["Authorization"] = h["Authorization"].replace(sig, sig[:-1] + ("0" if sig[-1] != "0"
                                                                     else "1"))
    with proxy._lock:
        proxy.calls.append(dataclasses.replace(good, headers=h))
    with pytest.raises(AssertionError, match=r"DescribeVpcs: signature mismatch"):
        proxy.check_signatures()
    proxy.calls[-1].expected_invalid = True
    proxy.credentials.clear()  # a key the test did not hand out
    with pytest.raises(AssertionError, match="which the test never handed out"):
        proxy.check_signatures()
    proxy.credentials[TEST_KEY_ID] = TEST_SECRET
    with proxy._lock:
        proxy.calls.append(dataclasses.replace(good, headers=Headers()))
    with pytest.raises(AssertionError, match="not signed: no Authorization header"):
        proxy.check_signatures()
    proxy.calls[-1].expected_invalid = True
    proxy.check_signatures()


@pytest.mark.parametrize("kind,code", [("throttle", "RequestLimitExceeded"),
                                       ("unavailable", "Unavailable")])
def test_error_faults(proxy, kind, code):
    client = ec2(proxy)
    proxy.set_fault(kind)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client.describe_vpcs()
    assert e.value.response["Error"]["Code"] == code
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    call = proxy.calls[-1]
    assert call.faulted and call.fault == kind and call.status == 503
    assert call.action == "DescribeVpcs"
    ok, detail = verify_sigv4(call, TEST_SECRET)
    assert ok, detail
    proxy.clear_fault()
    client.describe_vpcs()
    assert proxy.calls[-1].status == 200 and not proxy.calls[-1].faulted
    assert proxy.count(faulted=True) == 1 and proxy.count(faulted=False) == 1


def test_drop(proxy):
    client = ec2(proxy)
    proxy.set_fault("drop")
    with pytest.raises((botocore.exceptions.ConnectionError,
                        botocore.exceptions.HTTPClientError)):
        client.describe_vpcs()
    call = proxy.calls[-1]
    assert call.faulted and call.fault == "drop" and call.status is None
    proxy.clear_fault()
    client.describe_vpcs()
    assert proxy.calls[-1].status == 200


def test_hang(proxy):
    quick = NO_RETRY.merge(botocore.config.Config(read_timeout=0.5))
    proxy.set_fault("hang")
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        ec2(proxy, config=quick).describe_vpcs()
    assert proxy.calls[-1].fault == "hang" and proxy.calls[-1].status is None

    # A hung request is let go, unanswered, when the fault clears.
    errors = []

    def call():
        try:
            ec2(proxy).describe_vpcs()
        except Exception as e:      # noqa: BLE001 - what boto3 raised is the result
            errors.append(e)

    t = threading.Thread(target=call)
    t.start()
    deadline = time.monotonic() + 5
    while proxy.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proxy.count() == 2
    time.sleep(0.1)
    assert t.is_alive()
    proxy.clear_fault()
    t.join(5)
    assert not t.is_alive()
    assert len(errors) == 1 and not isinstance(errors[0], botocore.exceptions.ReadTimeoutError)
    ec2(proxy).describe_vpcs()
    assert proxy.calls[-1].status == 200


def test_fault_restricted_to_actions(proxy):
    client = ec2(proxy)
    vpc = client.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    rtb = client.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    proxy.set_fault("throttle", actions={"CreateRoute", "ReplaceRoute"})
    client.describe_route_tables(RouteTableIds=[rtb])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        client.create_route(RouteTableId=rtb, DestinationCidrBlock="192.168.1.0/24",
                            GatewayId="local")
    assert e.value.response["Error"]["Code"] == "RequestLimitExceeded"
    assert proxy.actions(faulted=True) == ["CreateRoute"]
    assert proxy.calls[-1].params["RouteTableId"] == rtb

    # times=: only the next N matching requests.
    proxy.set_fault("drop", actions="DescribeRouteTables", times=1)
    with pytest.raises((botocore.exceptions.ConnectionError,
                        botocore.exceptions.HTTPClientError)):
        client.describe_route_tables(RouteTableIds=[rtb])
    assert proxy.fault is None
    client.describe_route_tables(RouteTableIds=[rtb])
    assert proxy.calls[-1].status == 200
    assert proxy.actions(mutating_only=True) == ["CreateVpc", "CreateRouteTable",
                                                 "CreateRoute"]


@pytest.mark.skipif(not curl_has_sigv4(), reason="curl without --aws-sigv4")
@pytest.mark.parametrize("token", [None, TOKEN], ids=["no-token", "token"])
def test_curl_sigv4(proxy, token):
    r = curl_post(proxy, token)
    assert r.returncode == 0, r.stderr
    assert b"DescribeVpcsResponse" in r.stdout
    call = proxy.calls[-1]
    assert call.action == "DescribeVpcs" and call.status == 200
    ok, detail = verify_sigv4(call, TEST_SECRET, access_key=TEST_KEY_ID)
    assert ok, detail
    signed = signed_headers(call)
    assert ("x-amz-security-token" in signed) == (token is not None)
    # curl sends no X-Amz-Content-SHA256 for ec2, yet signs the body's hash:
    # another body does not verify.
    assert not call.headers.has_ci("X-Amz-Content-SHA256")
    ok, detail = verify_sigv4(dataclasses.replace(call, body=b"Action=DescribeVpcs"),
                              TEST_SECRET)
    assert not ok and "signature mismatch" in detail
    ok, detail = verify_sigv4(call, "not-the-secret")
    assert not ok


# --- the strict layer: what EC2 refuses and moto accepts ---

@pytest.fixture
def strict(moto, tmp_path):
    p = Ec2Proxy(moto.url, str(tmp_path), credentials={TEST_KEY_ID: TEST_SECRET},
                 logname="strict.log", strict=True)
    yield p
    p.stop()


def vpc_with_eni(client, cidr, subnet):
    vpc = client.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    sub = client.create_subnet(VpcId=vpc, CidrBlock=subnet)["Subnet"]["SubnetId"]
    rtb = client.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    eni = client.create_network_interface(SubnetId=sub)["NetworkInterface"]["NetworkInterfaceId"]
    return rtb, eni


def refused(call, code):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    assert e.value.response["Error"]["Code"] == code, e.value.response
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return e.value.response["Error"]["Message"]


def test_strict_route_inside_the_vpc(strict, proxy):
    client = ec2(strict)
    rtb, eni = vpc_with_eni(client, "10.6.0.0/16", "10.6.1.0/24")
    # inside the VPC's block and not a subnet's CIDR: refused, as EC2 does
    msg = refused(lambda: client.create_route(RouteTableId=rtb, DestinationCidrBlock="10.6.2.0/24",
                                              NetworkInterfaceId=eni), "InvalidParameterValue")
    assert "10.6.2.0/24" in msg and "10.6.0.0/16" in msg
    assert strict.calls[-1].strict == "InvalidParameterValue" and not strict.calls[-1].faulted
    refused(lambda: client.replace_route(RouteTableId=rtb, DestinationCidrBlock="10.6.0.128/25",
                                         NetworkInterfaceId=eni), "InvalidParameterValue")
    # a subnet's exact CIDR (more specific routing) and a network outside: accepted
    client.create_route(RouteTableId=rtb, DestinationCidrBlock="10.6.1.0/24",
                        NetworkInterfaceId=eni)
    client.create_route(RouteTableId=rtb, DestinationCidrBlock="10.7.2.0/24",
                        NetworkInterfaceId=eni)
    routes = {r.get("DestinationCidrBlock") for r in client.describe_route_tables(
        RouteTableIds=[rtb])["RouteTables"][0]["Routes"]}
    assert "10.7.2.0/24" in routes and "10.6.2.0/24" not in routes
    # moto alone takes what EC2 refuses: that is why the layer exists
    ec2(proxy).create_route(RouteTableId=rtb, DestinationCidrBlock="10.6.2.0/24",
                            NetworkInterfaceId=eni)
    assert proxy.calls[-1].status == 200 and proxy.calls[-1].strict is None


def test_strict_route_limit(strict):
    client = ec2(strict)
    rtb, eni = vpc_with_eni(client, "10.5.0.0/16", "10.5.1.0/24")
    # the local route and 49 more: 50, EC2's default quota
    for i in range(49):
        client.create_route(RouteTableId=rtb, DestinationCidrBlock=f"172.20.{i}.0/24",
                            NetworkInterfaceId=eni)
    msg = refused(lambda: client.create_route(RouteTableId=rtb,
                                              DestinationCidrBlock="172.21.0.0/24",
                                              NetworkInterfaceId=eni), "RouteLimitExceeded")
    assert rtb in msg
    assert strict.calls[-1].strict == "RouteLimitExceeded"
    # replacing one of them adds nothing: accepted
    client.replace_route(RouteTableId=rtb, DestinationCidrBlock="172.20.0.0/24",
                         NetworkInterfaceId=eni)
    assert strict.calls[-1].status == 200
    # IPv6 routes are counted apart; one less IPv4 route makes room
    client.delete_route(RouteTableId=rtb, DestinationCidrBlock="172.20.1.0/24")
    client.create_route(RouteTableId=rtb, DestinationCidrBlock="172.21.0.0/24",
                        NetworkInterfaceId=eni)
    assert strict.calls[-1].status == 200


def test_strict_blackhole(strict, proxy):
    client = ec2(strict)
    rtb, eni = vpc_with_eni(client, "10.4.0.0/16", "10.4.1.0/24")
    subnet = client.describe_network_interfaces(
        NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]["SubnetId"]
    live = client.create_network_interface(
        SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    client.create_route(RouteTableId=rtb, DestinationCidrBlock="100.64.0.0/16",
                        NetworkInterfaceId=eni)
    client.delete_network_interface(NetworkInterfaceId=eni)

    def states(c):
        return {r["DestinationCidrBlock"]: r["State"] for r in c.describe_route_tables(
            RouteTableIds=[rtb])["RouteTables"][0]["Routes"]}
    # the interface is gone: EC2 says blackhole, moto alone still says active
    assert states(client) == {"10.4.0.0/16": "active", "100.64.0.0/16": "blackhole"}
    assert states(ec2(proxy))["100.64.0.0/16"] == "active"
    client.replace_route(RouteTableId=rtb, DestinationCidrBlock="100.64.0.0/16",
                         NetworkInterfaceId=live)
    assert states(client)["100.64.0.0/16"] == "active"
