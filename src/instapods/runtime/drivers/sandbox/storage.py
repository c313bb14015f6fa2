"""A pod's disk: an ext4 image, loop-mounted, sized to the plan. It holds the pod's home,
/var/www and /tmp, so the plan's disk caps all three without kernel quota support."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from instapods.kit import procs
from instapods.runtime.drivers.sandbox.host import may, must
from instapods.runtime.errors import DiskTooSmall, RuntimeDriverError

GIB = 1024**3
# Pod paths and the image directories behind them.
AREAS = {"/home/instapod": "home", "/var/www": "www", "/tmp": "tmp"}


@dataclass(frozen=True)
class PodDisk:
    image: Path
    mountpoint: Path

    def mounted(self) -> bool:
        return os.path.ismount(self.mountpoint)

    def area(self, name: str) -> Path:
        return self.mountpoint / name

    async def create(self, size_bytes: int, uid: int) -> None:
        """Make (formatted under a temporary name, then renamed: an image that exists is whole)
        and mount a fresh image whose areas belong to `uid`."""
        self.image.parent.mkdir(parents=True, exist_ok=True)
        partial = self.image.with_suffix(".partial")
        with open(partial, "wb") as handle:
            handle.truncate(size_bytes)
        os.chmod(partial, 0o600)
        # Lazy journal and inode tables: a fresh sparse file reads as zeros already.
        options = "nodiscard,lazy_itable_init=1,lazy_journal_init=1"
        journal = "^has_journal" if size_bytes < GIB // 4 else "has_journal"
        await must(["mkfs.ext4", "-q", "-F", "-m", "0", "-E", options, "-O", journal, str(partial)])
        partial.replace(self.image)
        await self.mount()
        self.prepare(uid)

    def prepare(self, uid: int) -> None:
        """Give the mounted disk its areas (idempotent, so a cut-off create is finished)."""
        os.chown(self.mountpoint, 0, uid)  # only the pod's group may enter the disk's root
        os.chmod(self.mountpoint, 0o750)
        for name, mode in (("home", 0o700), ("www", 0o755), ("tmp", 0o1777)):
            path = self.area(name)
            path.mkdir(exist_ok=True)
            os.chown(path, uid, uid)
            os.chmod(path, mode)
        app = self.area("home") / "app"
        app.mkdir(exist_ok=True)
        os.chown(app, uid, uid)
        shutil.rmtree(self.mountpoint / "lost+found", ignore_errors=True)

    async def mount(self) -> None:
        if self.mounted():
            return
        self.mountpoint.mkdir(mode=0o700, parents=True, exist_ok=True)
        await must(["mount", "-o", "loop,nodev,nosuid", str(self.image), str(self.mountpoint)])

    async def unmount(self) -> None:
        if self.mounted() and not await may(["umount", str(self.mountpoint)]):
            await must(["umount", "-l", str(self.mountpoint)])

    def usage(self) -> tuple[int, int]:
        """(used, capacity) in bytes, as the filesystem counts them."""
        stats = os.statvfs(self.mountpoint)
        used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
        return used, stats.f_blocks * stats.f_frsize

    def size(self) -> int:
        return self.image.stat().st_size

    async def _loop_device(self) -> str:
        out = await must(["losetup", "-j", str(self.image)])
        return out.split(":", 1)[0]

    async def grow(self, size_bytes: int) -> None:
        """Enlarge the image and its filesystem while mounted (no downtime)."""
        with open(self.image, "r+b") as handle:
            handle.truncate(size_bytes)
        device = await self._loop_device()
        await must(["losetup", "-c", device])
        await must(["resize2fs", device], timeout=600)

    async def shrink(self, size_bytes: int) -> None:
        """Resize the filesystem and image offline (to shrink, or to grow where an online resize
        is not allowed); the pod's processes must be stopped."""
        used, _ = self.usage() if self.mounted() else (0, 0)
        if used > size_bytes * 0.95:
            raise DiskTooSmall(f"{used} bytes in use do not fit in {size_bytes} bytes")
        await self.unmount()
        if not await self._released():
            await self.mount()
            raise RuntimeDriverError(f"{self.image} is still in use after unmounting it")
        check = await procs.run(["e2fsck", "-f", "-y", str(self.image)], timeout=600)
        if check.returncode > 1:  # 1 means "errors corrected"
            await self.mount()
            raise RuntimeDriverError(f"e2fsck failed ({check.returncode}) on {self.image}")
        blocks = size_bytes // 1024
        result_ok = await may(["resize2fs", str(self.image), f"{blocks}K"], timeout=600)
        if not result_ok:
            await self.mount()
            raise DiskTooSmall(f"the files do not fit in {size_bytes} bytes")
        with open(self.image, "r+b") as handle:
            handle.truncate(size_bytes)
        await self.mount()

    async def _released(self, timeout: float = 10.0) -> bool:
        """Whether no loop device holds the image any more. The kernel lets go of it a moment
        after the unmount (the pod's last mount namespaces are still going away); checking or
        resizing the image before then corrupts it, and the next mount reuses the stale device."""
        deadline = time.monotonic() + timeout
        while (await must(["losetup", "-j", str(self.image)])).strip():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def destroy(self) -> None:
        await self.unmount()
        self.image.unlink(missing_ok=True)
        if self.mountpoint.exists():
            self.mountpoint.rmdir()
