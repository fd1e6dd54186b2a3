# tests/loopback_server.py: for the live-reload tests' clients (tests/shim_reload*.t): a
# server thread in the client's own process that accepts on 127.0.0.1:PORT and closes, so the
# policy under test can name only connect. Imported with tests/ on sys.path.
import socket
import threading


def serve(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)

    def loop():
        while True:
            c, _ = srv.accept()
            c.close()

    threading.Thread(target=loop, daemon=True).start()
    return srv
