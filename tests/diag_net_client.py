# tests/diag_net_client.py: the python asyncio client of tests/diag_net.t (non-blocking
# sockets driven by the event loop). Usage: python3 diag_net_client.py connect|bind ADDR PORT
# Prints "errno=NAME ms=N" (NAME is OK on success).
import asyncio
import errno
import sys
import time


async def main(op, addr, port):
    loop = asyncio.get_running_loop()
    if op == "connect":
        _, w = await asyncio.wait_for(asyncio.open_connection(addr, port), 30)
        w.close()
    else:
        srv = await loop.create_server(asyncio.Protocol, host=addr, port=port, reuse_address=False)
        srv.close()


t0 = time.monotonic()
try:
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    name = "OK"
except OSError as e:
    name = errno.errorcode.get(e.errno, "OTHER")
except asyncio.TimeoutError:
    name = "PYTIMEOUT"
print("errno=%s ms=%d" % (name, (time.monotonic() - t0) * 1000))
