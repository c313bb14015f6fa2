"""The bubblewrap command line of a pod process, and the pod's own minimal /etc.

Every process of a pod (services and exec) starts the same way:
    nsenter --net=<pod netns> -- setpriv <pod uid, no caps, no-new-privs> -- bwrap <view> -- argv
It sees the host's /usr read-only, a minimal /etc, the pod's disk at /home/instapod, /var/www
and /tmp, its own /proc and /dev, and runs as `instapod` (uid 1000) in its own user, PID, IPC
and UTS namespaces, unable to create more user namespaces.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from instapods.runtime.drivers.sandbox.storage import AREAS

POD_UID = 1000
POD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Host files a pod may read (only those that exist are bound).
HOST_ETC = (
    "/etc/ssl", "/etc/ca-certificates", "/etc/ld.so.cache", "/etc/alternatives",
    "/etc/localtime", "/etc/mime.types", "/etc/nginx/mime.types", "/etc/nginx/fastcgi_params",
    "/etc/php",
    "/etc/pip.conf", "/etc/xdg/pip", "/etc/gai.conf", "/etc/services", "/etc/protocols",
)  # fmt: skip


def etc_files(hostname: str, pod_ip: str, resolvers: Sequence[str]) -> dict[str, str]:
    """The pod's own /etc: its user, its name, and a resolver that works from its namespace."""
    nameservers = "".join(f"nameserver {r}\n" for r in resolvers) or "nameserver 127.0.0.1\n"
    return {
        "passwd": (
            "root:x:0:0:root:/root:/usr/sbin/nologin\n"
            f"instapod:x:{POD_UID}:{POD_UID}:instapod:/home/instapod:/bin/bash\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        ),
        "group": f"root:x:0:\ninstapod:x:{POD_UID}:\nnogroup:x:65534:\n",
        "hosts": f"127.0.0.1 localhost\n::1 localhost\n{pod_ip} {hostname}\n",
        "hostname": f"{hostname}\n",
        "resolv.conf": nameservers + "options timeout:2 attempts:2\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
    }


@dataclass(frozen=True)
class SandboxView:
    """Everything a pod process's command line depends on."""

    hostname: str
    uid: int  # host uid of the pod
    netns_path: str
    disk: Path  # the mounted image root
    etc: Path  # directory with the files of `etc_files`
    extra_ro: tuple[str, ...] = ()  # more host paths to show read-only (package mirrors)

    def command(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        fds: Mapping[str, int],
        files: Mapping[str, Path] | None = None,
        own_network: bool = False,
    ) -> list[str]:
        """The full host command line; `fds` maps bwrap fd options (info-fd…) to fds.
        With `own_network` the process gets an empty network (loopback only) of its own."""
        enter = [] if own_network else ["nsenter", f"--net={self.netns_path}", "--"]
        cmd = [
            *enter,
            "setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
            "bwrap",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--proc", "/proc", "--dev", "/dev",
            "--dir", "/etc", "--dir", "/var", "--dir", "/run",
        ]  # fmt: skip
        for name in sorted(os.listdir(self.etc)):
            cmd += ["--ro-bind", str(self.etc / name), f"/etc/{name}"]
        for path in (*HOST_ETC, *self.extra_ro):
            cmd += ["--ro-bind-try", path, path]
        for pod_path, area in AREAS.items():
            cmd += ["--bind", str(self.disk / area), pod_path]
        for pod_path, host_path in (files or {}).items():
            cmd += ["--ro-bind", str(host_path), pod_path]
        cmd += [
            "--chdir", cwd,
            "--unshare-user", "--uid", str(POD_UID), "--gid", str(POD_UID),
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", self.hostname, "--disable-userns", "--new-session", "--clearenv",
            *(["--unshare-net"] if own_network else []),
        ]  # fmt: skip
        for key, value in env.items():
            cmd += ["--setenv", key, value]
        for option, fd in fds.items():
            cmd += [f"--{option}", str(fd)]
        return [*cmd, "--", *argv]


def base_env(hostname: str) -> dict[str, str]:
    return {
        "HOME": "/home/instapod",
        "USER": "instapod",
        "LOGNAME": "instapod",
        "HOSTNAME": hostname,
        "PATH": POD_PATH,
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
    }
