"""Keeps a one-host distributed launch (DeepSpeed, one rank per GPU) listening on loopback only.

On one host the DeepSpeed launcher sets MASTER_ADDR=127.0.0.1, yet torch.distributed's
rendezvous store, which rank 0 serves at MASTER_ADDR:MASTER_PORT, listens on every interface
(torch 2.13 binds [::]); gloo and NCCL pick their own interfaces for the ranks' connections. So
with a loopback MASTER_ADDR, rank 0 serves the store itself on a socket bound to that address,
multi-tenant: torch's own `init_process_group(env://)` in this process then shares that server
instead of opening one; and gloo and NCCL are told to use the loopback interface unless
GLOO_SOCKET_IFNAME / NCCL_SOCKET_IFNAME say otherwise. With a hostfile (several hosts)
MASTER_ADDR is the first host's address, and torch's defaults stand, unless that address is a
loopback one: nodes that are loopback addresses of one machine (the multi-node tests).

Call `keep_rendezvous_on_loopback(timeout)` before anything initializes torch.distributed.
"""

import datetime
import ipaddress
import os
import socket

import torch.distributed as dist

LOOPBACK_INTERFACE = "lo"

# The rendezvous server lives as long as a TCPStore holding it: this one, for the whole process.
_store = None


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def keep_rendezvous_on_loopback(timeout_seconds: int) -> bool:
    """True when this process is one rank of a one-host launch and its sockets were kept on loopback."""
    global _store
    address, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")
    if address is None or port is None or not _is_loopback(address):
        return False
    os.environ.setdefault("GLOO_SOCKET_IFNAME", LOOPBACK_INTERFACE)
    os.environ.setdefault("NCCL_SOCKET_IFNAME", LOOPBACK_INTERFACE)
    if os.environ.get("RANK", "0") != "0" or _store is not None:
        return True
    host = "127.0.0.1" if address == "localhost" else address
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(port)))
    listener.listen(socket.SOMAXCONN)
    _store = dist.TCPStore(
        address,
        int(port),
        int(os.environ.get("WORLD_SIZE", "1")),
        True,
        datetime.timedelta(seconds=timeout_seconds),
        wait_for_workers=False,
        multi_tenant=True,
        master_listen_fd=listener.detach(),
    )
    return True
