"""The Grafana dashboard and the Prometheus alert rules in monitoring/ (issue 23) against the real
things: `promtool check rules` and `promtool test rules` (tests/dashboard/alerts_test.yml, synthetic
series: each alert fires when it should and stays quiet when it should not), then a real Prometheus
scrapes purgeqd's metrics port (with its token) and every PromQL expression of the dashboard and
the rules must return a series through Prometheus's HTTP API: a renamed metric fails here."""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest
import urllib.parse

from harness import wait_until
from status_scene import METRICS_TOKEN, Scene, free_port

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RULES = os.path.join(ROOT, "monitoring", "purgeq-alerts.yml")
DASHBOARD = os.path.join(ROOT, "monitoring", "purgeq-dashboard.json")
RULE_TESTS = os.path.join(ROOT, "tests", "dashboard", "alerts_test.yml")
# scripts/setup.sh --test unpacks Debian's prometheus package under build/tools when it is not
# installed, and says where promtool is; prometheus is beside it.
PROMTOOL = os.environ.get("PROMTOOL") or shutil.which("promtool")
if PROMTOOL and not os.path.exists(PROMTOOL):
    PROMTOOL = shutil.which("promtool")
PROMETHEUS = os.path.join(os.path.dirname(PROMTOOL), "prometheus") if PROMTOOL else None


def dashboard_expressions():
    with open(DASHBOARD) as f:
        board = json.load(f)

    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))
    for panel in panels(board["panels"]):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]
    for variable in board.get("templating", {}).get("list", []):
        query = variable.get("definition", "")
        match = re.fullmatch(r"label_values\((.+), *\w+\)", query)
        if match:
            yield f"variable {variable['name']}", match.group(1)


def rule_expressions():
    # The rules file is YAML; its expressions are found without a YAML library (none is needed
    # elsewhere in the tests): promtool has checked its shape already.
    with open(RULES) as f:
        text = f.read()
    for match in re.finditer(r"- alert: (\w+)\n\s+expr: (\|\n((?:\s{10,}.*\n)+)|(.*)\n)", text):
        expr = match.group(3) if match.group(3) else match.group(4)
        yield match.group(1), " ".join(line.strip() for line in expr.splitlines())


@unittest.skipUnless(PROMTOOL and os.path.exists(PROMETHEUS or ""),
                     "promtool and prometheus are needed (Debian's prometheus package)")
class MonitoringTest(unittest.TestCase):
    def promtool(self, *args):
        run = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        return run.stdout

    def test_rules_check_and_their_unit_tests_pass(self):
        self.assertIn("SUCCESS: 6 rules found", self.promtool("check", "rules", RULES))
        self.promtool("test", "rules", RULE_TESTS)

    def test_every_expression_returns_a_series_from_a_real_scrape(self):
        scene = Scene(self, metrics=True, tcp=False)
        # A refused intent: purgeq_intents_rejected_total has a series only once one was refused.
        status, body = scene.daemon.submit({"zone": "unknown.example", "tags": ["x"]})
        self.assertEqual(status, 400, body)
        work = tempfile.mkdtemp(prefix="purgeq-prom-")
        self.addCleanup(shutil.rmtree, work, True)
        token_file = os.path.join(work, "token")
        with open(token_file, "w") as f:
            f.write(METRICS_TOKEN)
        config = os.path.join(work, "prometheus.yml")
        # Prometheus reads YAML; JSON is YAML.
        with open(config, "w") as f:
            json.dump({
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [RULES],
                "scrape_configs": [{
                    "job_name": "purgeq",
                    "authorization": {"credentials_file": token_file},
                    "static_configs": [{"targets": [f"127.0.0.1:{scene.metrics_port}"]}],
                }],
            }, f)
        port = free_port()
        log = open(os.path.join(work, "prometheus.log"), "w")
        self.addCleanup(log.close)
        prometheus = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={work}/data",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)

        def stop():
            prometheus.send_signal(signal.SIGTERM)
            prometheus.wait(30)
        self.addCleanup(stop)

        def api(path, **params):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("GET", f"/api/v1/{path}?" + urllib.parse.urlencode(params))
                return json.loads(conn.getresponse().read())
            except OSError:
                return None
            finally:
                conn.close()

        def scraped():
            up = api("query", query='up{job="purgeq"}')
            samples = api("query", query="count_over_time(purgeq_uptime_seconds[1m])")
            return (up and up["data"]["result"] and up["data"]["result"][0]["value"][1] == "1"
                    and samples["data"]["result"]
                    and int(samples["data"]["result"][0]["value"][1]) >= 3)
        wait_until(scraped, timeout=30, interval=0.5, what="three scrapes of the metrics port")

        # Found at all: a parser that found nothing would pass vacuously.
        self.assertEqual(len(list(rule_expressions())), 6)
        self.assertGreaterEqual(len(list(dashboard_expressions())), 30)
        empty = []
        for title, expr in dashboard_expressions():
            query = expr.replace("$__rate_interval", "1m").replace('=~"$instance"', '=~".+"')
            answer = api("query", query=query)
            self.assertEqual(answer["status"], "success", f"{title}: {query}: {answer}")
            if not answer["data"]["result"]:
                empty.append(f"{title}: {query}")
        for alert, expr in rule_expressions():
            answer = api("query", query=expr)
            self.assertEqual(answer["status"], "success", f"{alert}: {expr}: {answer}")
            # An alert's expression is empty while all is well: each metric it names must have a
            # series instead.
            for name in sorted(set(re.findall(r"\bpurgeq_\w+", expr))):
                series = api("query", query=f'count({{__name__="{name}"}})')
                if not series["data"]["result"]:
                    empty.append(f"{alert}: {name}")
        self.assertEqual(empty, [], "expressions or metrics without a series")

        # acct2 is paused by an authentication error: its alert is on its way (`for: 2m`).
        def pending():
            alerts = api("alerts")["data"]["alerts"]
            return [a for a in alerts if a["labels"]["alertname"] == "PurgeqAccountPaused"]
        alerts = wait_until(pending, timeout=15, interval=0.5, what="PurgeqAccountPaused pending")
        self.assertEqual([a["labels"]["account"] for a in alerts], ["acct2"])
        self.assertEqual(alerts[0]["state"], "pending")
        rules = api("rules")["data"]["groups"][0]["rules"]
        self.assertEqual(len(rules), 6)
        for rule in rules:
            self.assertEqual(rule["health"], "ok", rule)


if __name__ == "__main__":
    unittest.main()
