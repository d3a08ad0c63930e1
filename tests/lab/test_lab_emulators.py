# SPDX-License-Identifier: GPL-2.0-or-later
"""The AWS emulators answer as the agent will need them to.

moto serves the EC2 Query API with the VPC, subnet, route table and
instance the fixture created; the metadata mock serves IMDSv2 only, with
exactly those ids.
"""
import json
import urllib.error
import urllib.request

import pytest

from vrlab.emulators import REGION


def test_imds_v2_only(aws):
    imds = aws.imds
    # IMDSv1 (no token) is refused.
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{imds.url}/latest/meta-data/instance-id", timeout=5)
    assert e.value.code == 401
    token = imds.token()
    assert token
    assert imds.get("/latest/meta-data/instance-id", token) == aws.instance_id
    assert imds.get("/latest/meta-data/placement/region", token) == REGION
    mac = imds.get("/latest/meta-data/mac", token)
    assert mac == aws.mac
    base = f"/latest/meta-data/network/interfaces/macs/{mac}"
    assert imds.get(f"{base}/interface-id", token) == aws.eni_id
    assert imds.get(f"{base}/vpc-id", token) == aws.vpc_id
    assert imds.get(f"{base}/vpc-ipv4-cidr-blocks", token) == "10.1.0.0/23"
    assert imds.get(f"{base}/subnet-id", token) == aws.subnet_id
    role = imds.get("/latest/meta-data/iam/security-credentials", token)
    creds = json.loads(imds.get(f"/latest/meta-data/iam/security-credentials/{role}", token))
    assert creds["AccessKeyId"] and creds["Token"] and creds["Expiration"]
    # A wrong token is refused.
    with pytest.raises(urllib.error.HTTPError) as e:
        imds.get("/latest/meta-data/instance-id", "not-a-token")
    assert e.value.code == 401


def test_ec2_api(aws):
    ec2 = aws.ec2
    tables = ec2.describe_route_tables(RouteTableIds=[aws.rtb_id])["RouteTables"]
    assert len(tables) == 1
    t = tables[0]
    assert t["VpcId"] == aws.vpc_id
    assert [a["SubnetId"] for a in t["Associations"] if "SubnetId" in a] == [aws.subnet_id]
    assert {"DestinationCidrBlock": "10.1.0.0/23", "GatewayId": "local"}.items() \
        <= t["Routes"][0].items()
    attr = ec2.describe_network_interface_attribute(NetworkInterfaceId=aws.eni_id,
                                                    Attribute="sourceDestCheck")
    assert attr["SourceDestCheck"]["Value"] is True
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[aws.eni_id])
    assert eni["NetworkInterfaces"][0]["Attachment"]["InstanceId"] == aws.instance_id
    # The emulator keeps state: a route to the ENI shows up in the table.
    ec2.create_route(RouteTableId=aws.rtb_id, DestinationCidrBlock="192.168.1.128/25",
                     NetworkInterfaceId=aws.eni_id)
    routes = ec2.describe_route_tables(RouteTableIds=[aws.rtb_id])["RouteTables"][0]["Routes"]
    assert any(r.get("DestinationCidrBlock") == "192.168.1.128/25"
               and r.get("NetworkInterfaceId") == aws.eni_id for r in routes)
