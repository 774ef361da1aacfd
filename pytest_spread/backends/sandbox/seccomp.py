"""A seccomp filter like Docker's default one, for the calls a capability does not guard.

Key rings are not namespaced (root of a machine would share this computer's
root key ring), the kernel log is this computer's, and BPF, perf, userfaultfd
and io_uring are the usual ways into kernel bugs. These calls, and the module,
kexec, clock, swap and reboot calls (their capabilities are dropped too), fail
with EPERM. Calls of another architecture (32-bit, x32) fail with ENOSYS.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

from . import kernel

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
X32_BIT = 0x40000000

# name: (x86_64, aarch64); None where the call does not exist.
DENIED: dict[str, tuple[int | None, int | None]] = {
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "syslog": (103, 116),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "reboot": (169, 142),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "acct": (163, 89),
    "settimeofday": (164, 170),
    "clock_settime": (227, 112),
    "clock_adjtime": (305, 266),
    "adjtimex": (159, 171),
    "quotactl": (179, 60),
    "lookup_dcookie": (212, 18),
    "iopl": (172, None),
    "ioperm": (173, None),
}
ARCHITECTURES = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7)}

LD_W_ABS, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06


def _instruction(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def program(machine: str) -> bytes:
    """The filter's BPF instructions for this architecture."""
    column, audit_arch = ARCHITECTURES[machine]
    deny = _instruction(RET_K, RET_ERRNO | errno.EPERM)
    code = [
        _instruction(LD_W_ABS, 4),  # seccomp_data.arch
        _instruction(JEQ_K, audit_arch, 1, 0),
        _instruction(RET_K, RET_ERRNO | errno.ENOSYS),
        _instruction(LD_W_ABS, 0),  # seccomp_data.nr
    ]
    if machine == "x86_64":
        code += [_instruction(JGE_K, X32_BIT, 0, 1), deny]
    for numbers in DENIED.values():
        number = numbers[column]
        if number is not None:
            code += [_instruction(JEQ_K, number, 0, 1), deny]
    code.append(_instruction(RET_K, RET_ALLOW))
    return b"".join(code)


class _Program(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_char_p))


def deny_host_calls() -> None:
    """Install the filter on this process and every process it will start."""
    code = program(platform.machine())
    prog = _Program(len(code) // 8, code)
    kernel.prctl_pointer(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog))
