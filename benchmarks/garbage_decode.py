"""Garbage text payloads: CPU time until the text decoder gives up. Run it with two
checkouts on the path to compare (the number printed is CPU time, user+sys):

    PYTHONPATH=/work/main python benchmarks/garbage_decode.py main
    PYTHONPATH=. python benchmarks/garbage_decode.py branch
"""
import resource, sys, numpy as np
from archiver.codecs import registry
from archiver.errors import CorruptChunk
codec = registry.get(0x10)
rng = np.random.default_rng(1)
tot, stopped = 0.0, 0
for trial in range(5):
    body = rng.integers(1, 256, 4096, dtype=np.uint8).tobytes()
    payload = bytes([3]) + body                 # variant 3 (context mixing), one segment
    size = 64 * len(payload)
    t0 = resource.getrusage(resource.RUSAGE_SELF); t0 = t0.ru_utime + t0.ru_stime
    try:
        codec.decode(payload, size)
    except CorruptChunk as exc:
        stopped += 1; msg = str(exc)
    t1 = resource.getrusage(resource.RUSAGE_SELF); tot += t1.ru_utime + t1.ru_stime - t0
print(f"{sys.argv[1]}: 5 garbage payloads of 4097 B claiming {64*4097} B: {tot:.2f} CPU-s, stopped early {stopped}/5; last: {msg if stopped else '-'}")
