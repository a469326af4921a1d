"""A one-host distributed launch listens on loopback only (tuneflow_ml/rendezvous.py): two gloo
ranks started as the DeepSpeed launcher starts them (MASTER_ADDR=127.0.0.1, RANK, WORLD_SIZE)
join, reduce a tensor, and every TCP socket either listens on is a loopback one."""

import ipaddress
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tuneflow_ml.rendezvous import keep_rendezvous_on_loopback

WORLD_SIZE = 2


def _listening_addresses(pid: int) -> list[tuple[str, int]]:
    """(address, port) of each TCP socket `pid` listens on, from /proc."""
    by_inode = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(table).read().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            hex_address, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_address)
            # Each 32-bit word is in host (little-endian) order.
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            by_inode[fields[9]] = (str(ipaddress.ip_address(raw)), int(hex_port, 16))
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in by_inode:
            found.append(by_inode[target[8:-1]])
    return found


def _rank(rank: int, port: int, results) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD_SIZE))
    kept = keep_rendezvous_on_loopback(60)
    dist.init_process_group("gloo", init_method="env://")
    value = torch.ones(1)
    dist.all_reduce(value)
    listening = _listening_addresses(os.getpid())
    dist.barrier()  # both ranks have looked before either leaves
    results.put((rank, kept, value.item(), listening))
    dist.destroy_process_group()


def test_a_one_host_launch_listens_on_loopback_only():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = mp.get_context("spawn")
    results = context.Queue()
    ranks = [context.Process(target=_rank, args=(rank, port, results)) for rank in range(WORLD_SIZE)]
    for process in ranks:
        process.start()
    seen = sorted(results.get(timeout=120) for _ in ranks)
    for process in ranks:
        process.join(timeout=60)
        assert process.exitcode == 0

    assert [(rank, kept, value) for rank, kept, value, _ in seen] == [(0, True, 2.0), (1, True, 2.0)]
    # Rank 0 serves the rendezvous store at MASTER_PORT, on loopback like every other socket.
    assert ("127.0.0.1", port) in seen[0][3]
    listening = [address for *_, addresses in seen for address in addresses]
    assert [a for a in listening if not ipaddress.ip_address(a[0]).is_loopback] == []


def test_without_a_loopback_master_addr_torch_defaults_stand(monkeypatch):
    monkeypatch.setenv("MASTER_ADDR", "10.1.2.3")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.delenv("GLOO_SOCKET_IFNAME", raising=False)
    assert keep_rendezvous_on_loopback(60) is False
    assert "GLOO_SOCKET_IFNAME" not in os.environ
