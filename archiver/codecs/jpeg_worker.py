"""The helper process that runs Lepton for the JPEG codec (archiver/codecs/jpeg.py).

Run as a script (`python jpeg_worker.py MEMORY_LIMIT THREADS`), never imported by bbx itself:
it needs only the standard library and lepton_jpeg_python, so it starts without the bbx package on its
path. Its address space is capped (RLIMIT_AS) before Lepton is loaded, so a JPEG or payload
that makes the library allocate without bound, panic or crash takes down this process only;
the parent (archiver/codecs/jpeg_sandbox.py) sees a dead pipe, kills and restarts it.

Protocol over stdin/stdout, one request at a time:
    request:  u8 op ('E': encode and check, 'D': decode), u64 n, n bytes
    reply:    u8 status, u64 n, n bytes
        'K' ok: the Lepton stream ('E', only if it decodes back to the input byte for byte)
            or the JPEG ('D')
        'N' no: the library refused the input or the round trip was not exact ('E'), or the
            payload does not decode ('D'); the n bytes are the reason, UTF-8
"""
import resource
import struct
import sys

HEAD = struct.Struct("<cQ")


def _read_exact(stream, n: int) -> bytes:
    data = stream.read(n)
    if data is None or len(data) != n:
        raise EOFError
    return data


def _reply(out, status: bytes, body: bytes) -> None:
    out.write(HEAD.pack(status, len(body)))
    out.write(body)
    out.flush()


def _serve(lepton, config: dict) -> None:
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            op, n = HEAD.unpack(_read_exact(inp, HEAD.size))
            data = _read_exact(inp, n)
        except EOFError:
            return
        try:
            if op == b"E":
                payload = bytes(lepton.compress_bytes(data, config))
                if bytes(lepton.decompress_bytes(payload, config)) != data:
                    _reply(out, b"N", b"Lepton's round trip is not byte for byte")
                    continue
                _reply(out, b"K", payload)
            elif op == b"D":
                _reply(out, b"K", bytes(lepton.decompress_bytes(data, config)))
            else:
                _reply(out, b"N", b"unknown request")
        except MemoryError:
            _reply(out, b"N", b"memory limit reached")
        except BaseException as exc:  # noqa: BLE001 - Rust panics arrive as BaseException
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            _reply(out, b"N", f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[:500])


def main() -> None:
    limit, threads = int(sys.argv[1]), int(sys.argv[2])
    # Lepton splits a large JPEG into segments (by its size, not by the thread count, so the
    # stream is the same either way) and codes them on its thread pool (sized by the parent
    # through RAYON_NUM_THREADS) or, single, one after the other on this thread.
    config = {"threads": "single" if threads <= 1 else "per_cpu"}
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        import lepton_jpeg_python as lepton
    except ImportError as exc:
        _reply(sys.stdout.buffer, b"M", str(exc).encode())
        return
    _reply(sys.stdout.buffer, b"K", b"")      # ready: the library loaded under the cap
    _serve(lepton, config)


if __name__ == "__main__":
    main()
