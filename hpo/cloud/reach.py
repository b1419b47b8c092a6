"""What a container in the cloud can reach: the study's storage, and the local files the study names.

A container runs on someone else's network. It cannot open this machine's SQLite file, a loopback
or private address, or a name that only this network resolves; and it sees no local file unless
the launch carries it in. The built-in demo data is read from this machine's Python, whose
docstrings differ from the container's, so its fingerprint would not match the study's.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING

from hpo.errors import StudyError, UsageError
from hpo.store.storage import StorageUrl, host_address

if TYPE_CHECKING:
    from hpo.settings.config import DataSource, StudyConfig
    from hpo.store.study import StoredStudy

logger = logging.getLogger(__name__)

# Where containers mount the cache volume: no carried file may land there.
CACHE_DIR = "/cache"
_REACHABLE_FIX = "use a Postgres reachable from the internet (managed, or tunnelled)"
# Addresses that route only inside one network (RFC 1918, link-local, CGNAT, IPv6 unique local).
_PRIVATE_NETWORKS = {
    "10.0.0.0/8": "a private network",
    "172.16.0.0/12": "a private network",
    "192.168.0.0/16": "a private network",
    "169.254.0.0/16": "link-local",
    "100.64.0.0/10": "carrier-grade NAT",
    "fc00::/7": "an IPv6 unique local network",
    "fe80::/10": "link-local",
}


def check_reachable_from_cloud(url: StorageUrl) -> None:
    """Raise unless a container elsewhere could reach this storage.

    Refused: a SQLite file; this machine (loopback, unspecified, ``localhost``, no host); a private,
    link-local or CGNAT address; and a bare name without a dot (``postgres``), which only a local
    network or a compose file resolves.
    """
    if url.is_sqlite:
        raise UsageError(
            f"storage URL '{url}' is a local SQLite file that a cloud container cannot reach; "
            "use a Postgres URL reachable from the internet (managed, or tunnelled)"
        )
    host = url.host or "localhost"
    where = f"storage host '{host}' in '{url}'"
    try:
        address = ipaddress.ip_address(str(host_address(host) or host))  # 127.1 too, as the C library reads it
    except ValueError:
        name = host.lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            raise UsageError(
                f"{where} is this machine, which a cloud container cannot reach; {_REACHABLE_FIX}"
            ) from None
        if "." not in name:
            raise UsageError(
                f"{where} is a bare name that only your own network resolves, which a cloud container cannot "
                f"reach; {_REACHABLE_FIX}"
            ) from None
        return
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback or address.is_unspecified:
        raise UsageError(f"{where} is this machine, which a cloud container cannot reach; {_REACHABLE_FIX}")
    for network, kind in _PRIVATE_NETWORKS.items():
        if address in ipaddress.ip_network(network):
            raise UsageError(
                f"{where} is an address of {kind} ({network}), which a cloud container cannot reach; {_REACHABLE_FIX}"
            )


def files_to_carry(config: StudyConfig) -> tuple[str, ...]:
    """The local data files and model folders a container needs, each to be placed at the same path.

    Raises for what cannot be carried: the built-in demo data, a Windows or relative path, a missing file.
    The test split is left out: a worker never loads it.
    """
    carried: list[str] = []
    data = config.data
    for role, source in (("data.train", data.train), ("data.dev", data.dev), ("data.corpus", data.corpus)):
        if source is not None:
            carried.extend(_data_file(config.study_name, role, source))
    for model in config.search_space.searched_models():
        if Path(model).expanduser().exists():  # as the worker decides: an existing path, else a Hub id
            carried.append(_carried_path("search_space.model", model, "model"))
    return tuple(dict.fromkeys(carried))


def check_local_data(stored: StoredStudy) -> None:
    """Raise unless the local data files are still the ones the study was created with.

    Checked only for a study whose loaded splits are all local files (nothing to download here);
    the container checks the fingerprint again in any case.
    """
    data = stored.config.data
    sources = [s for s in (data.train, data.dev, data.corpus) if s is not None]
    if not all(s.path is not None for s in sources):
        return
    from hpo.data.fingerprint import fingerprint
    from objectives.registry import get_task

    found = fingerprint(get_task(stored.config.objective).load_data(stored.config))
    if found != stored.fingerprint:
        raise StudyError(
            f"study '{stored.config.study_name}': the data files here differ from the data it was created with "
            f"(study {stored.fingerprint[:19]}..., here {found[:19]}...); restore the files, or create a new study"
        )


def _data_file(study_name: str, role: str, source: DataSource) -> list[str]:
    if source.builtin is not None:
        raise UsageError(
            f"study '{study_name}' uses the built-in demo data ({role}: builtin:{source.builtin}), which is read "
            "from this machine's Python and differs in a container; to run it on Modal, create the study from "
            "data files (data.*.path) or a Hub dataset (data.*.hub)"
        )
    if source.path is None:  # a Hub dataset: the container downloads it
        return []
    return [_carried_path(role, source.path, "file")]


def _carried_path(role: str, given: str, what: str) -> str:
    if PureWindowsPath(given).drive or "\\" in given:
        raise UsageError(
            f"{role}: '{given}' is a Windows path, which a Linux container cannot mount at the same path; "
            f"create the study with the {what}'s POSIX path (on Linux, macOS or WSL) and run hpo modal there"
        )
    path = Path(given)
    if not path.is_absolute():
        raise UsageError(
            f"{role}: '{given}' is not an absolute path, which a container cannot resolve; "
            f"create the study with the {what}'s absolute path"
        )
    if not path.exists():
        raise UsageError(
            f"{role}: {what} not found here: {given}; hpo modal uploads the study's local files from this machine, "
            "so run it where the study was created"
        )
    posix = PurePosixPath(path.as_posix())
    if posix == PurePosixPath(CACHE_DIR) or PurePosixPath(CACHE_DIR) in posix.parents:
        raise UsageError(f"{role}: {given} lies under {CACHE_DIR}, where containers mount their cache; move it")
    return str(path)
