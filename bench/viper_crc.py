# CRC16/ARC as native code (@micropython.viper), for bench/bench_child.py's
# "for scale" row: what the per-byte CRC costs when it is not bytecode. Kept out of
# the modules mpy-cross compiles, which would then need -march.
import micropython


@micropython.viper
def crc16(data, n: int, tab) -> int:
    p = ptr8(data)
    t = ptr16(tab)
    crc = 0
    for i in range(n):
        crc = (crc >> 8) ^ t[(crc ^ p[i]) & 0xFF]
    return crc
