# SPDX-License-Identifier: GPL-2.0-or-later
"""AWS emulators on loopback: moto (EC2 API) and amazon-ec2-metadata-mock (IMDS).

Both listen on 127.0.0.1 on free ports. AwsWorld creates a VPC, a subnet,
a route table and an instance in moto, then starts the metadata mock with
exactly those ids, the instance's MAC and ENI, region and CIDR blocks.

moto checks no signature, so AwsWorld puts a recording proxy (ec2proxy.py)
in front of it: world.moto's url and port are the proxy's, and every request
that reaches moto through them is verified with botocore's signer after the
test (conftest), with the secrets in world.credentials (the test key, the
role's keys; tests that hand the agent other keys add them there).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import boto3

from .ec2proxy import Ec2Proxy

REGION = "us-east-1"
TEST_KEY_ID = "AKIDVPCROUTETEST"
TEST_SECRET = "vpcroute-test-secret"
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30, what="server"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


def metadata_mock_path():
    """The metadata mock that scripts/check builds (tests/tools/bin), or one on PATH."""
    p = os.path.join(TOP, "tests", "tools", "bin", "ec2-metadata-mock")
    if os.access(p, os.X_OK):
        return p
    return shutil.which("ec2-metadata-mock")


class Moto:
    """moto's server, started here."""

    def __init__(self, logdir):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = os.path.join(logdir, "moto.log")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # generous: under software emulation (the IPsec lab's VM) its start takes a minute
        wait_port(self.port, self.proc, timeout=180, what="moto")

    def client(self, key_id=TEST_KEY_ID, secret=TEST_SECRET):
        return boto3.client("ec2", endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=key_id, aws_secret_access_key=secret)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class VerifiedMoto:
    """moto behind a signature-checking Ec2Proxy: url and port are the
    proxy's; proc is moto's process."""

    def __init__(self, logdir, credentials):
        self.upstream = Moto(logdir)
        self.proc = self.upstream.proc
        # strict: answers as EC2 does where moto is kinder (vrlab.ec2proxy)
        self.proxy = Ec2Proxy(self.upstream.url, logdir, credentials=credentials, region=REGION,
                              logname="moto-proxy.log", strict=True)
        self.port, self.url = self.proxy.port, self.proxy.url

    client = Moto.client

    def stop(self):
        self.proxy.stop()
        self.upstream.stop()


class MetadataMock:
    def __init__(self, logdir, values, paths, creds_role="vpcroute-instance"):
        self.binary = metadata_mock_path()
        if not self.binary:
            raise RuntimeError("ec2-metadata-mock not found: scripts/check builds it into "
                               "tests/tools/bin")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logdir = logdir
        self.config = os.path.join(logdir, "aemm-config.json")
        self.log = os.path.join(logdir, "aemm.log")
        self.start(values, paths)

    def start(self, values, paths):
        with open(self.config, "w") as f:
            json.dump({"metadata": {"paths": paths, "values": values}}, f, indent=2)
        # -I: IMDSv2 only, every GET needs a session token.
        self.proc = subprocess.Popen(
            [self.binary, "-c", self.config, "-n", "127.0.0.1", "-p", str(self.port), "-I"],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.logdir, env={**os.environ, "HOME": self.logdir})
        wait_port(self.port, self.proc, what="ec2-metadata-mock")

    def restart(self, values, paths):
        """New answers on the same port (the mock reads its values at start)."""
        self.stop()
        self.start(values, paths)

    def token(self, ttl=21600):
        req = urllib.request.Request(f"{self.url}/latest/api/token", method="PUT",
                                     headers={"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read().decode()

    def get(self, path, token):
        req = urllib.request.Request(f"{self.url}{path}",
                                     headers={"X-aws-ec2-metadata-token": token})
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read().decode()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class AwsWorld:
    """The VPC of topology A, in moto, mirrored by the metadata mock. As in guide
    A, the VPC is 10.1.0.0/23 so that the tunnel pool 10.1.2.0/24 lies outside
    it: EC2 refuses a route inside a VPC CIDR block that is not a subnet's. The
    instance's security group lets OpenVPN in (openvpn: its protocol and port, as
    the lab's servers listen: vrlab/openvpn.py), from anywhere, as the guides say
    to open it; ipsec: IKE (UDP 500), NAT traversal (UDP 4500) and ESP too,
    as the IPsec guides open them. share: another AwsWorld whose emulated EC2 API this one's VPC is
    made in (two VPCs of one region, each with its instance and metadata mock:
    the IPsec topologies of vrlab/ipseclab.py); its stop() leaves that API up."""

    def __init__(self, logdir, vpc_cidr="10.1.0.0/23", subnet_cidr="10.1.1.0/24",
                 instance_ip="10.1.1.2", openvpn=("udp", 1194), share=None, ipsec=False):
        self.shared = share is not None
        if share:
            self.credentials, self.moto = share.credentials, share.moto
        else:
            # access key id -> secret of every key handed out in this world
            self.credentials = {TEST_KEY_ID: TEST_SECRET}
            self.moto = VerifiedMoto(logdir, self.credentials)
        ec2 = self.ec2 = self.moto.client()
        self.vpc_cidr, self.subnet_cidr = vpc_cidr, subnet_cidr
        self.vpc_id = ec2.create_vpc(CidrBlock=vpc_cidr)["Vpc"]["VpcId"]
        self.az = f"{REGION}a"
        self.subnet_id = ec2.create_subnet(VpcId=self.vpc_id, CidrBlock=subnet_cidr,
                                           AvailabilityZone=self.az)["Subnet"]["SubnetId"]
        self.rtb_id = ec2.create_route_table(VpcId=self.vpc_id)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=self.rtb_id, SubnetId=self.subnet_id)
        # the instance gets the VPC's default group (a group of its own given at launch,
        # moto would keep on the ENI even after a test replaces the ENI's groups)
        proto, port = openvpn
        self.sg_id = ec2.describe_security_groups(Filters=[
            {"Name": "vpc-id", "Values": [self.vpc_id]},
            {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=self.sg_id, IpPermissions=[
            {"IpProtocol": proto, "FromPort": port, "ToPort": port,
             "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "OpenVPN clients"}]}])
        if ipsec:  # what the IPsec guides open: IKE, NAT traversal, ESP
            ec2.authorize_security_group_ingress(GroupId=self.sg_id, IpPermissions=[
                {"IpProtocol": proto, "FromPort": port, "ToPort": port,
                 "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "IPsec peers"}]}
                for proto, port in (("udp", 500), ("udp", 4500), ("50", -1))
                if (proto, port) != tuple(openvpn)])
        image = ec2.describe_images()["Images"][0]["ImageId"]
        inst = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano",
                                 SubnetId=self.subnet_id,
                                 PrivateIpAddress=instance_ip)["Instances"][0]
        self.instance_id = inst["InstanceId"]
        eni = inst["NetworkInterfaces"][0]
        self.eni_id = eni["NetworkInterfaceId"]
        self.mac = eni["MacAddress"]
        self.instance_ip = instance_ip
        self.role = "vpcroute-instance"
        self.role_key_id, self.role_secret = "ASIAVPCROUTEROLE", "vpcroute-role-secret"
        self.role_token, self.role_lifetime = "vpcroute-role-token", 6 * 3600
        self.credentials[self.role_key_id] = self.role_secret
        self.imds = MetadataMock(logdir, self.imds_values(), self.imds_paths())

    def only_group(self, name, permissions):
        """A new security group of the VPC with these inbound rules (EC2's
        IpPermissions) becomes the instance interface's only group; its id."""
        sg = self.ec2.create_security_group(GroupName=name, Description=name,
                                            VpcId=self.vpc_id)["GroupId"]
        self.ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=permissions)
        self.ec2.modify_network_interface_attribute(NetworkInterfaceId=self.eni_id, Groups=[sg])
        return sg

    def rotate_role_credentials(self, key_id, secret, token, lifetime):
        """The instance role's next credentials, valid for lifetime seconds."""
        self.role_key_id, self.role_secret, self.role_token = key_id, secret, token
        self.role_lifetime = lifetime
        self.credentials[key_id] = secret
        self.imds.restart(self.imds_values(), self.imds_paths())

    def imds_paths(self):
        mac = f"/latest/meta-data/network/interfaces/macs/{self.mac}"
        return {
            "instance-id": "/latest/meta-data/instance-id",
            "local-ipv4": "/latest/meta-data/local-ipv4",
            "mac": "/latest/meta-data/mac",
            "placement-region": "/latest/meta-data/placement/region",
            "placement-availability-zone": "/latest/meta-data/placement/availability-zone",
            "mac-network-interface-id": f"{mac}/interface-id",
            "mac-vpc-id": f"{mac}/vpc-id",
            "mac-vpc-ipv4-cidr-block": f"{mac}/vpc-ipv4-cidr-block",
            "mac-vpc-ipv4-cidr-blocks": f"{mac}/vpc-ipv4-cidr-blocks",
            "mac-vpc-ipv6-cidr-blocks": f"{mac}/vpc-ipv6-cidr-blocks",
            "mac-subnet-id": f"{mac}/subnet-id",
            "mac-subnet-ipv4-cidr-block": f"{mac}/subnet-ipv4-cidr-block",
            "mac-local-ipv4s": f"{mac}/local-ipv4s",
            "mac-mac": f"{mac}/mac",
            "iam-security-credentials-role": "/latest/meta-data/iam/security-credentials",
            "iam-security-credentials":
                f"/latest/meta-data/iam/security-credentials/{self.role}",
        }

    def imds_values(self):
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                time.gmtime(time.time() + self.role_lifetime))
        return {
            "instance-id": self.instance_id,
            "local-ipv4": self.instance_ip,
            "mac": self.mac,
            "placement-region": REGION,
            "placement-availability-zone": self.az,
            "mac-network-interface-id": self.eni_id,
            "mac-vpc-id": self.vpc_id,
            "mac-vpc-ipv4-cidr-block": self.vpc_cidr,
            "mac-vpc-ipv4-cidr-blocks": self.vpc_cidr,
            # no IPv6 block in this VPC (the mock cannot answer 404 for it)
            "mac-vpc-ipv6-cidr-blocks": "",
            "mac-subnet-id": self.subnet_id,
            "mac-subnet-ipv4-cidr-block": self.subnet_cidr,
            "mac-local-ipv4s": self.instance_ip,
            "mac-mac": self.mac,
            "iam-security-credentials-role": self.role,
            "iam-security-credentials": {
                "Code": "Success", "LastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                time.gmtime()),
                "Type": "AWS-HMAC", "AccessKeyId": self.role_key_id,
                "SecretAccessKey": self.role_secret, "Token": self.role_token,
                "Expiration": expires,
            },
        }

    def add_instance(self, logdir, subnet_cidr, az, ip, role_key_id, role_secret):
        """Another instance of this VPC, in a subnet of its own (associated
        with the world's route table) and availability zone, with its own
        metadata mock and role keys: a second vpcroute server (guide-ha.md).
        subnet_cidr None: in the world's own subnet (a replacement)."""
        return Instance(self, logdir, subnet_cidr, az, ip, role_key_id, role_secret)

    def env(self):
        """What the agent gets: the SDKs' own variables pointing at the emulators."""
        return {
            "AWS_ENDPOINT_URL_EC2": self.moto.url,
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": self.imds.url,
            "AWS_REGION": REGION,
        }

    def stop(self):
        self.imds.stop()
        if not self.shared:
            self.moto.stop()


class Instance:
    """A further instance of an AwsWorld's VPC (AwsWorld.add_instance)."""

    def __init__(self, world, logdir, subnet_cidr, az, ip, role_key_id, role_secret):
        ec2 = world.ec2
        os.makedirs(logdir, exist_ok=True)
        if subnet_cidr is None:
            az, subnet_cidr, self.subnet_id = world.az, world.subnet_cidr, world.subnet_id
        else:
            self.subnet_id = ec2.create_subnet(VpcId=world.vpc_id, CidrBlock=subnet_cidr,
                                               AvailabilityZone=az)["Subnet"]["SubnetId"]
            ec2.associate_route_table(RouteTableId=world.rtb_id, SubnetId=self.subnet_id)
        self.az, self.ip, self.subnet_cidr = az, ip, subnet_cidr
        image = ec2.describe_images()["Images"][0]["ImageId"]
        inst = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano",
                                 SubnetId=self.subnet_id, PrivateIpAddress=ip)["Instances"][0]
        self.instance_id = inst["InstanceId"]
        eni = inst["NetworkInterfaces"][0]
        self.eni_id, self.mac = eni["NetworkInterfaceId"], eni["MacAddress"]
        self.role_key_id = role_key_id
        world.credentials[role_key_id] = role_secret
        # the world's answers, with this instance's own values and paths
        paths = {k: v.replace(world.mac, self.mac) for k, v in world.imds_paths().items()}
        values = world.imds_values()
        values.update({
            "instance-id": self.instance_id, "local-ipv4": ip, "mac": self.mac,
            "placement-availability-zone": az, "mac-network-interface-id": self.eni_id,
            "mac-subnet-id": self.subnet_id, "mac-subnet-ipv4-cidr-block": subnet_cidr,
            "mac-local-ipv4s": ip, "mac-mac": self.mac,
        })
        values["iam-security-credentials"] = dict(values["iam-security-credentials"],
                                                  AccessKeyId=role_key_id,
                                                  SecretAccessKey=role_secret,
                                                  Token=f"{role_key_id}-token")
        self.imds = MetadataMock(logdir, values, paths)

    def stop(self):
        self.imds.stop()
