#!/usr/bin/python3
"""Drive a running Firefox (Marionette port) to a client-auth page, as a person would.

    firefox_drive.py <marionette port> <url> <PIN,PIN...> <tries command> <want> <out prefix>

Navigates to <url> (Marionette), and for each PIN in turn waits for
Firefox's own "Password Required" dialog (a new window each time: after a
wrong PIN Firefox asks again) and types the PIN into it with xdotool, then
Return.  Before typing each PIN after the first, runs <tries command> (a
shell command printing the card's tries left) and prints "tries after
wrong PIN: N".  When the page has loaded and its text contains <want>, writes <out prefix>.txt (URL and
page text), <out prefix>.png (Marionette screenshot of the page) and
<out prefix>-screen.xwd (the whole X screen: browser window, address bar).
Waits are bounded (WAIT seconds each); exit 1 with the reason on failure.
"""
import base64
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from marionette import Marionette  # noqa: E402

WAIT = 120
# The English title: the test profile asks for an en-US user interface
# (firefox.sh: intl.locale.requested), whatever the system locale.
DIALOG = "Password Required"


def dialogs():
    r = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", DIALOG],
                       capture_output=True, text=True)
    return [w for w in r.stdout.split() if w]


def wait_dialog(seen, nav):
    for _ in range(WAIT * 4):
        new = [w for w in dialogs() if w not in seen]
        if new:
            return new[0]
        time.sleep(0.25)
    sys.exit("no '%s' dialog within %d s" % (DIALOG, WAIT))


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    port, url, pins, tries_cmd, want, out = (int(sys.argv[1]), sys.argv[2], sys.argv[3].split(","),
                                             sys.argv[4], sys.argv[5], sys.argv[6])
    m = Marionette(port, timeout=WAIT * 2)
    m.call("WebDriver:NewSession", {"capabilities": {"pageLoadStrategy": "normal"}})

    def navigate():
        try:
            m.call("WebDriver:Navigate", {"url": url})
            nav.result = "ok"
        except Exception as e:  # reported by the main thread
            nav.result = "error: %s" % e
    nav = threading.Thread(target=navigate, daemon=True)
    nav.result = "running"
    nav.start()

    seen = []
    for i, pin in enumerate(pins):
        w = wait_dialog(seen, nav)
        seen.append(w)
        if i > 0:
            t = subprocess.run(tries_cmd, shell=True, capture_output=True, text=True)
            print("tries after wrong PIN: %s" % t.stdout.strip(), flush=True)
        subprocess.run(["xdotool", "windowfocus", "--sync", w], check=True)
        subprocess.run(["xdotool", "type", "--delay", "40", pin], check=True)
        subprocess.run(["xdotool", "key", "Return"], check=True)
        print("PIN %d of %d typed into Firefox's dialog (window %s)" % (i + 1, len(pins), w),
              flush=True)

    # WebDriver:Navigate returns when the dialog opens (a user prompt), so
    # it says nothing about the page: wait for the page itself.
    nav.join(WAIT)
    if nav.is_alive():
        sys.exit("navigation did not return within %d s after the last PIN" % WAIT)
    text = cur = ""
    for _ in range(WAIT * 4):
        if [w for w in dialogs() if w not in seen]:
            sys.exit("Firefox asks for the PIN again after the last PIN")
        state = m.call("WebDriver:ExecuteScript", {
            "script": "return [document.readyState, document.URL,"
                      " document.body ? document.body.innerText : '']", "args": []})["value"]
        state = state or ["", "", ""]  # None while the page is being replaced
        if state[0] == "complete" and state[1] == url and want in state[2]:
            cur, text = state[1], state[2]
            break
        time.sleep(0.25)
    else:
        sys.exit("no page with %r at %s within %d s (%s)" % (want, url, WAIT, nav.result))
    with open(out + ".txt", "w") as f:
        f.write("URL: %s\n%s" % (cur, text or ""))
    # Scroll the part the test is about into view (and select it).
    m.call("WebDriver:ExecuteScript", {"script": "window.find(arguments[0]); return true",
                                       "args": [want]})
    png = m.call("WebDriver:TakeScreenshot", {"full": False})["value"]
    with open(out + ".png", "wb") as f:
        f.write(base64.b64decode(png))
    with open(out + "-screen.xwd", "wb") as f:
        subprocess.run(["xwd", "-root", "-silent"], stdout=f, check=True)
    try:
        m.call("Marionette:Quit", {"flags": ["eForceQuit"]})
    except (EOFError, OSError, RuntimeError):
        pass


if __name__ == "__main__":
    main()
