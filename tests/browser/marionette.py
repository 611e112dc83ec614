#!/usr/bin/python3
"""A minimal Marionette client (Firefox's remote protocol; standard library only).

Messages are "<length>:<json>"; a command is [0, id, name, params], the
answer [1, id, error, result].  Used by firefox.sh to read the page Firefox
shows and to save a screenshot of it, never to answer a dialog (the PIN is
typed into Firefox's own dialog with xdotool).
"""
import base64
import json
import socket
import sys
import time


class Marionette:
    def __init__(self, port, timeout=120):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.id = 0
        self._read()  # the greeting: applicationType, marionetteProtocol

    def _read(self):
        while b":" not in self.buf:
            self._more()
        n, _, rest = self.buf.partition(b":")
        n = int(n)
        self.buf = rest
        while len(self.buf) < n:
            self._more()
        msg, self.buf = self.buf[:n], self.buf[n:]
        return json.loads(msg)

    def _more(self):
        b = self.s.recv(65536)
        if not b:
            raise EOFError("Marionette closed the connection")
        self.buf += b

    def call(self, name, params=None):
        self.id += 1
        body = json.dumps([0, self.id, name, params or {}]).encode()
        self.s.sendall(str(len(body)).encode() + b":" + body)
        while True:
            m = self._read()
            if m[0] == 1 and m[1] == self.id:
                if m[2]:
                    raise RuntimeError("%s: %s" % (name, m[2]))
                return m[3]


def main():
    """marionette.py <port> wait-text <text> <out.txt> <out.png> <tries>

    Waits (polls, at most <tries> times a second apart) until the current
    page's text contains <text>, then writes the text and a screenshot."""
    port, cmd = int(sys.argv[1]), sys.argv[2]
    if cmd != "wait-text":
        sys.exit(main.__doc__)
    want, out_txt, out_png, tries = sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
    m = Marionette(port)
    m.call("WebDriver:NewSession", {"capabilities": {}})
    text = ""
    for _ in range(tries):
        try:
            text = m.call("WebDriver:ExecuteScript", {
                "script": "return document.body ? document.body.innerText : ''",
                "args": []})["value"] or ""
        except RuntimeError:
            text = ""
        if want in text:
            break
        time.sleep(1)
    url = m.call("WebDriver:GetCurrentURL")["value"]
    open(out_txt, "w").write("URL: %s\n%s" % (url, text))
    png = m.call("WebDriver:TakeScreenshot", {"full": False})["value"]
    open(out_png, "wb").write(base64.b64decode(png))
    if want not in text:
        sys.exit("page text has no %r (URL %s)" % (want, url))


if __name__ == "__main__":
    main()
