# SPDX-License-Identifier: GPL-2.0-or-later
"""ipsec.peers keyed by IKE identity with real strongSwan (issue 18): the
agent on gateway A asks A's charon, over its VICI socket, who is behind a
tunnel's address. Gateway B (the remote site, 172.31.0.2) connects with the
identity @site1.example, which A's ipsec.peers allows B's network for, or
with another identity from the same address, which it does not; A's charon
accepts both (its remote id is %any). Needs ESP (scripts/ipsec-vm runs it in
a VM) and strongSwan unpacked in .build/strongswan (vrlab/strongswan.py)."""
import json
import shutil
import tempfile
import time

import pytest

import test_ipsec_vm
from vrlab import netns, strongswan
from vrlab.agent import Agent, settles

A_PUB, B_PUB = "172.31.0.1", "172.31.0.2"
A_NET, B_NET = "10.0.0.0/16", "192.168.99.0/24"
A_ID, SITE1, SITE2 = "@gw.example", "@site1.example", "@site2.example"
# as strongSwan reports them (VICI's remote-id): without swanctl.conf's "@"
SITE1_SEEN, SITE2_SEEN = SITE1[1:], SITE2[1:]
PSK = "the lab's pre-shared key, long enough for every daemon"


# the same ESP probe as the main VM file's, made once (each process is slow in the VM)
pytestmark = [
    test_ipsec_vm.pytestmark,
    pytest.mark.skipif(not strongswan.available(), reason=strongswan.SKIP_REASON),
]


def swanctl_conf(me, my_id, peer, peer_id, mine, theirs):
    """One PSK connection "site" from me (identity my_id) to peer (peer_id,
    %any: whoever the secret is for), one CHILD_SA "site" mine <-> theirs."""
    return f"""connections {{
  site {{
    version = 2
    local_addrs = {me}
    remote_addrs = {peer}
    proposals = aes128-sha256-modp2048
    local {{
      auth = psk
      id = {my_id}
    }}
    remote {{
      auth = psk
      id = {peer_id}
    }}
    children {{
      site {{
        local_ts = {mine}
        remote_ts = {theirs}
        esp_proposals = aes128-sha256
        start_action = none
      }}
    }}
  }}
}}
secrets {{
  ike-site {{
    id-a = {A_ID}
    id-b = {SITE1}
    id-c = {SITE2}
    secret = "{PSK}"
  }}
}}
"""


def b_conf(identity):
    return swanctl_conf(B_PUB, identity, A_PUB, A_ID, B_NET, A_NET)


@pytest.fixture(scope="module")
def site():
    """A and B joined on their WAN, each charon started, the agent on A."""
    with netns.Lab() as lab:
        a, b = lab.node("gwa"), lab.node("gwb")
        lab.link(a, "wan", b, "wan")
        a.run(f"ip addr add {A_PUB}/24 dev wan")
        b.run(f"ip addr add {B_PUB}/24 dev wan")
        work = tempfile.mkdtemp(prefix="vr-vm-vici-")
        ca = strongswan.Charon(a, f"{work}/a",
                               swanctl_conf(A_PUB, A_ID, B_PUB, "%any", A_NET, B_NET))
        cb = strongswan.Charon(b, f"{work}/b", b_conf(SITE1))
        conf = {"version": 1, "role": "client", "local_networks": [A_NET],
                "ipsec": {"vici_socket": ca.vici,
                          "peers": {SITE1: {"allow": [B_NET]}}}}
        agent = Agent(a, f"{work}/agent", json.loads(json.dumps(conf)), grace=0)
        try:
            ca.start()
            cb.start()
            test_ipsec_vm.start(agent)  # its first start can take more than 10 s here
            agent.wait_log(r"vici: connected to ", timeout=30)
            yield a, b, ca, cb, agent
        finally:
            agent.stop()
            cb.stop()
            ca.stop()
            shutil.rmtree(work, ignore_errors=True)


def tunnel(agent):
    """B's tunnel in A's agent: (state, policy, remote id of its IKE_SA)."""
    for t in agent.status()["ipsec"]["tunnels"]:
        if t["peer"] == B_PUB and t["network"] == B_NET:
            return t["state"], t["policy"], (t["ike_sa"] or {}).get("remote_id")
    return None


def test_identity_gets_its_networks_another_gets_nothing(site):
    a, b, ca, cb, agent = site
    cb.initiate("site")
    want = ("up", SITE1, SITE1_SEEN)
    assert settles(lambda: tunnel(agent), want, timeout=60) == want, ca.log_tail()
    assert agent.set_prefixes("remote4") == [B_NET]
    st = agent.status()["ipsec"]
    ike = [t["ike_sa"] for t in st["tunnels"] if t["peer"] == B_PUB][0]
    assert ike["name"] == "site" and ike["state"] == "ESTABLISHED"
    assert st["vici"]["connected"] is True
    # the same address as another identity: the SA is live, nothing is routed
    cb.swanctl("--terminate", "--ike", "site")
    cb.write(b_conf(SITE2))
    cb.load()
    cb.initiate("site")
    want = ("refused", None, SITE2_SEEN)
    assert settles(lambda: tunnel(agent), want, timeout=60) == want, ca.log_tail()
    assert settles(lambda: agent.set_prefixes("remote4"), []) == []
    why = [t["refusal"] for t in agent.status()["ipsec"]["tunnels"] if t["peer"] == B_PUB][0]
    assert f'IKE identity "{SITE2_SEEN}" is in ipsec.peers' in why
    cb.write(b_conf(SITE1))  # what B's next start loads


def test_charon_restart_reconnects(site):
    a, b, ca, cb, agent = site
    before = agent.status()["ipsec"]["vici"]["connects"]
    ca.stop()
    agent.wait_log(r"vici: \S+: charon closed the connection", timeout=30)
    assert agent.status()["ipsec"]["vici"]["connected"] is False
    cb.stop()  # B's IKE_SA with the charon that went: gone with it
    t0 = time.time()
    ca.start()
    assert settles(lambda: agent.status()["ipsec"]["vici"]["connects"], before + 1,
                   timeout=60) == before + 1
    print(f"reconnected {time.time() - t0:.1f} s after charon's start began")
    # a new IKE_SA by identity is routed again
    cb.start()
    cb.initiate("site")
    want = ("up", SITE1, SITE1_SEEN)
    assert settles(lambda: tunnel(agent), want, timeout=60) == want, ca.log_tail()
    assert agent.set_prefixes("remote4") == [B_NET]
