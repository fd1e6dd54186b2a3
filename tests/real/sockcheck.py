"""A small program any Python user might write: a listener, a client, bytes both ways, an
asyncio round trip, then the options both ends read back. Prints one line:
  client nodelay=N keepalive=N server nodelay=N keepalive=N asyncio=ok
Used by memcheck.t to run a real interpreter under valgrind with the shim."""
import asyncio
import socket

lst = socket.socket()
lst.bind(("127.0.0.1", 0))
lst.listen()
cli = socket.create_connection(lst.getsockname())
srv, _ = lst.accept()
cli.sendall(b"ping")
assert srv.recv(4) == b"ping"
srv.sendall(b"pong")
assert cli.recv(4) == b"pong"


def opts(s):
    return (s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
            s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))


c, s = opts(cli), opts(srv)


async def echo():
    async def handle(r, w):
        w.write(await r.read(5))
        await w.drain()
        w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"hello")
    got = await r.read(5)
    w.close()
    server.close()
    await server.wait_closed()
    return got


a = asyncio.run(echo())
for x in (cli, srv, lst):
    x.close()
print("client nodelay=%d keepalive=%d server nodelay=%d keepalive=%d asyncio=%s"
      % (c[0] != 0, c[1] != 0, s[0] != 0, s[1] != 0, "ok" if a == b"hello" else "bad"))
