#!/usr/bin/env python3
"""Drives the VPN simulator's pharmacy web page in headless Debian Chromium through chromedriver,
with the W3C WebDriver HTTP API (python3 stdlib only).

Usage: pharmacy.py BASE_URL PHARMACY PASSWORD ONE_TIME_CODE VISIT_CODE QR_TEXT TAMPERED_QR
Prints `browser: N passed, N failed`; exits non-zero on any failure.
"""
import json
import os
import ssl
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    def __init__(self):
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="rx-browser-")
        self.proc = subprocess.Popen(
            [CHROMEDRIVER, f"--port={self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 20
        while True:
            try:
                if self.call("GET", "/status").get("ready"):
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.time() > deadline:
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.1)
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "acceptInsecureCerts": True,
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--disable-dev-shm-usage",
                            f"--user-data-dir={self.profile}",
                        ],
                    },
                }
            }
        }
        self.session = self.call("POST", "/session", caps)["sessionId"]
        # Form posts navigate asynchronously: element look-ups wait up to 5 s for the next page.
        self.s("POST", "/timeouts", {"implicit": 5000, "pageLoad": 30000})

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: {e.code} {e.read()[:300]!r}")

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def go(self, url):
        self.s("POST", "/url", {"url": url})

    def find(self, css):
        return self.s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def exists(self, css):
        return len(self.s("POST", "/elements", {"using": "css selector", "value": css})) > 0

    def type(self, css, text):
        el = self.find(css)
        self.s("POST", f"/element/{el}/clear", {})
        self.s("POST", f"/element/{el}/value", {"text": text})

    def click(self, css):
        self.s("POST", f"/element/{self.find(css)}/click", {})

    def text(self, css):
        return self.s("GET", f"/element/{self.find(css)}/text")

    def attr(self, css, name):
        return self.s("GET", f"/element/{self.find(css)}/attribute/{name}")

    def source(self):
        return self.s("GET", "/source")

    def quit(self):
        try:
            self.s("DELETE", "")
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    base, pharmacy, password, code, visit_code, qr, tampered = sys.argv[1:8]
    passed, failed = 0, 0

    def check(name, cond, detail=""):
        nonlocal passed, failed
        if cond:
            passed += 1
            print(f"  ok   {name}")
        else:
            failed += 1
            print(f"  FAIL {name} {detail}")

    # The page's headers (issue 11, finding 8): never cached, a CSP that forbids framing.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the simulator's self-signed certificate
    with urllib.request.urlopen(base + "/pharmacy", context=ctx, timeout=30) as r:
        headers = {k.lower(): v for k, v in r.getheaders()}
    check("page is Cache-Control: no-store", headers.get("cache-control") == "no-store", str(headers))
    csp = headers.get("content-security-policy", "")
    check("page has a CSP with frame-ancestors 'none'",
          "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and
          headers.get("x-frame-options") == "DENY", csp)

    wd = WebDriver()
    try:
        wd.go(base + "/pharmacy")
        check("login page shown", wd.exists("#pharmacy") and wd.exists("#password"))

        wd.type("#pharmacy", pharmacy)
        wd.type("#password", "wrong-password")
        wd.click("#login")
        check("wrong password refused", wd.exists("#error") and wd.exists("#login"), wd.source()[:600])

        wd.type("#pharmacy", pharmacy)
        wd.type("#password", password)
        wd.click("#login")
        check("logged in", wd.exists("#query") and pharmacy in wd.text("#who"))

        # The one-time code as a person types it: lower case, with the dash.
        typed = (code[:4] + "-" + code[4:]).lower()
        wd.type("#query", typed)
        wd.click("#find")
        check("details by one-time code", wd.exists("#visit-code") and wd.text("#visit-code") == visit_code,
              wd.source()[:300])
        check("dispense button offered", wd.exists("#dispense"))
        wd.click("#dispense")
        check("dispense complete", wd.exists("#result") and wd.attr("#result", "data-status") == "ok")
        receipt = wd.text("#receipt") if wd.exists("#receipt") else ""
        check("receipt number shown", receipt.startswith("R"), receipt)
        wd.click("#print")
        check("print view", "本處方箋僅供院所留存使用" in wd.source())

        # Second attempt with the same code: refused with who/when.
        wd.go(base + "/pharmacy")
        wd.type("#query", code)
        wd.click("#find")
        check("second attempt by code refused",
              wd.exists("#error-code") and wd.text("#error-code") == "already_dispensed")
        check("refusal names the pharmacy", wd.exists("#error-message") and pharmacy in wd.text("#error-message"))

        # The same prescription by its QR text: refused too (it is dead at once).
        wd.go(base + "/pharmacy")
        wd.type("#query", qr)
        wd.click("#find")
        check("scanned QR shows it dispensed", wd.exists("#not-due") and "dispensed" in wd.text("#refills"))
        wd.go(base + "/pharmacy")
        wd.type("#query", qr)
        wd.click("#find")
        # A form posted without the session's anti-forgery token (what a forged cross-site form
        # would be; the session cookie alone) is refused before anything happens.
        wd.s("POST", "/execute/sync", {
            "script": "var f=document.createElement('form');f.method='post';f.action='/pharmacy/dispense';"
                      "var i=document.createElement('input');i.name='query';i.value=arguments[0];f.appendChild(i);"
                      "document.body.appendChild(f);f.submit();",
            "args": [qr]})
        time.sleep(0.5)
        check("form post without the CSRF token refused",
              wd.exists("#error-code") and wd.text("#error-code") == "csrf")
        # Submit the dispense form directly with the token (no button is offered): still refused.
        wd.s("POST", "/execute/sync", {
            "script": "var t=document.querySelector('input[name=csrf]').value;"
                      "var f=document.createElement('form');f.method='post';f.action='/pharmacy/dispense';"
                      "var i=document.createElement('input');i.name='query';i.value=arguments[0];f.appendChild(i);"
                      "var c=document.createElement('input');c.name='csrf';c.value=t;f.appendChild(c);"
                      "document.body.appendChild(f);f.submit();",
            "args": [qr]})
        time.sleep(0.5)
        check("forced second dispense refused",
              wd.exists("#error-code") and wd.text("#error-code") == "already_dispensed")

        # A tampered QR and a QR from the street.
        wd.go(base + "/pharmacy")
        wd.type("#query", tampered)
        wd.click("#find")
        check("tampered QR refused", wd.exists("#error-code") and wd.text("#error-code") == "tampered")
        wd.go(base + "/pharmacy")
        wd.type("#query", "https://example.org/menu?table=12")
        wd.click("#find")
        check("street QR refused", wd.exists("#error-code") and wd.text("#error-code") == "not_ours")

        # Abnormal-case restore from the print view (reason required, audited): the code works again.
        wd.go(f"{base}/pharmacy/print/{visit_code}/1")
        wd.type("#restore-reason", "wrong patient handed the bag")
        wd.click("#restore")
        check("abnormal-case restore", wd.exists("#result") and wd.attr("#result", "data-status") == "ok")
        wd.go(base + "/pharmacy")
        wd.type("#query", code)
        wd.click("#find")
        check("restored prescription can be dispensed again", wd.exists("#dispense"))

        wd.go(base + "/pharmacy")
        wd.click("#logout")
        check("logged out", wd.exists("#login"))
    except Exception as e:  # a broken step is a failure, not a crash
        failed += 1
        print(f"  FAIL exception: {e}")
    finally:
        wd.quit()
    print(f"browser: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
