"""Self-tests of the fake Cloudflare purge API.

Run: cd tests/fake_cloudflare && python3 -m unittest -v test_fake_cloudflare
Everything binds and connects to 127.0.0.1 only.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from fake_cloudflare import ConfigError, FakeCloudflare, file_key, purge_key  # noqa: E402

ZONE_A = "0a" * 16
ZONE_B = "0b" * 16
ZONE_C = "0c" * 16
UNKNOWN_ZONE = "0f" * 16
TOKEN_1 = "token-one"
TOKEN_2 = "token-two"


def make_config(acct1=None, acct2=None, **top):
    a1 = dict(name="acct1", token=TOKEN_1, rate=50, burst=500, urls_per_second=3000,
              url_burst=3000, max_ops=100, max_urls=500)
    a2 = dict(name="acct2", token=TOKEN_2, rate=10, burst=50, urls_per_second=1500,
              url_burst=1500, max_ops=100, max_urls=100)
    a1.update(acct1 or {})
    a2.update(acct2 or {})
    config = dict(
        accounts=[a1, a2],
        zones=[
            dict(id=ZONE_A, name="a.example", account="acct1", hosts=["a.example", "*.a.example"]),
            dict(id=ZONE_B, name="b.example", account="acct1"),
            dict(id=ZONE_C, name="c.example", account="acct2", hosts=["c.example"]),
        ])
    config.update(top)
    return config


class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw)
        except ValueError:
            self.json = None

    @property
    def code(self):
        return self.json["errors"][0]["code"]

    @property
    def message(self):
        return self.json["errors"][0]["message"]


class FakeTestCase(unittest.TestCase):
    config = None

    def setUp(self):
        self.fake = FakeCloudflare(self.config or make_config())
        self.port = self.fake.start()
        self.addCleanup(self.fake.stop)

    def connect(self, timeout=5):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def raw_request(self, method, path, body=None, headers=None, conn=None):
        own = conn is None
        conn = conn or self.connect()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return Response(response.status, response, response.read())
        finally:
            if own:
                conn.close()

    def purge(self, body, zone=ZONE_A, token=TOKEN_1, headers=None, prefix="/client/v4",
              method="POST", conn=None):
        hdrs = {"Content-Type": "application/json"}
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        hdrs.update(headers or {})
        hdrs = {k: v for k, v in hdrs.items() if v is not None}
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        return self.raw_request(method, f"{prefix}/zones/{zone}/purge_cache", data, hdrs, conn)

    def control(self, method, path, body=None):
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        response = self.raw_request(method, path, data, headers)
        return response.status, response.json

    def assertOk(self, response, zone=ZONE_A):
        self.assertEqual(response.status, 200, response.raw)
        self.assertEqual(response.json, {"success": True, "errors": [], "messages": [],
                                         "result": {"id": zone}})

    def assertError(self, response, status, code, contains=None):
        self.assertEqual(response.status, status, response.raw)
        self.assertEqual(response.headers.getheader("Content-Type"), "application/json")
        body = response.json
        self.assertIs(body["success"], False)
        self.assertIsNone(body["result"])
        self.assertEqual(body["messages"], [])
        self.assertEqual(body["errors"][0]["code"], code, response.raw)
        if contains is not None:
            self.assertIn(contains, body["errors"][0]["message"])

    def last(self):
        return self.fake.requests()[-1]


class LookupTest(FakeTestCase):
    """What purgeqd reads to find zones by name: GET /zones, /zones/{id} and the token checks."""

    config = make_config(acct1=dict(plan="business"),
                         acct2=dict(plan="free", account_token=True, id="ab" * 16))

    def get(self, path, token=TOKEN_1):
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return self.raw_request("GET", "/client/v4" + path, None, headers)

    def test_zones_by_name_with_the_plan_and_the_account(self):
        r = self.get("/zones?name=a.example")
        self.assertEqual(r.status, 200, r.raw)
        self.assertIs(r.json["success"], True)
        [zone] = r.json["result"]
        self.assertEqual((zone["id"], zone["name"], zone["status"]), (ZONE_A, "a.example", "active"))
        self.assertEqual(zone["plan"]["legacy_id"], "business")
        self.assertEqual(len(zone["account"]["id"]), 32)
        self.assertEqual(r.json["result_info"], dict(page=1, per_page=20, count=1, total_count=1,
                                                     total_pages=1))
        self.assertEqual(self.last()["kind"], "zone_list")
        # Another account's zone is not visible to this token.
        self.assertEqual(self.get("/zones?name=c.example").json["result"], [])
        r = self.get("/zones?name=c.example", token=TOKEN_2)
        self.assertEqual(r.json["result"][0]["plan"]["legacy_id"], "free")
        self.assertEqual(r.json["result"][0]["account"]["id"], "ab" * 16)

    def test_pages(self):
        first = self.get("/zones?per_page=5&page=1").json
        self.assertEqual([z["name"] for z in first["result"]], ["a.example", "b.example"])
        self.assertEqual(first["result_info"]["total_pages"], 1)
        self.assertEqual(self.get("/zones?per_page=5&page=2").json["result"], [])
        self.assertError(self.get("/zones?per_page=4"), 400, 1001)
        self.assertError(self.get("/zones?per_page=51"), 400, 1001)
        self.assertError(self.get("/zones?page=0"), 400, 1001)
        self.assertError(self.get("/zones?nme=a.example"), 400, 1001, "nme")

    def test_zone_by_id(self):
        r = self.get(f"/zones/{ZONE_B}")
        self.assertEqual(r.json["result"]["name"], "b.example")
        self.assertError(self.get(f"/zones/{ZONE_C}"), 403, 9109)  # acct2's zone
        self.assertError(self.get(f"/zones/{UNKNOWN_ZONE}"), 403, 9109)
        self.assertError(self.get("/zones/a.example"), 404, 7003)
        self.assertError(self.raw_request("POST", f"/client/v4/zones/{ZONE_A}", b"{}",
                                          {"Authorization": f"Bearer {TOKEN_1}"}), 405, 7001)

    def test_an_invalid_token_is_401_code_1000(self):
        for path in ("/zones?name=a.example", f"/zones/{ZONE_A}", "/user/tokens/verify"):
            self.assertError(self.get(path, token="nope"), 401, 1000, "Invalid API Token")
        self.assertError(self.get("/zones", token=None), 400, 9106)

    def test_token_verify_routes_by_owner(self):
        r = self.get("/user/tokens/verify")
        self.assertEqual(r.json["result"]["status"], "active")
        # acct2's token is account-owned: valid only under its account.
        self.assertError(self.get("/user/tokens/verify", token=TOKEN_2), 401, 1000)
        r = self.get(f"/accounts/{'ab' * 16}/tokens/verify", token=TOKEN_2)
        self.assertEqual(r.json["result"]["status"], "active")
        self.assertError(self.get(f"/accounts/{'cd' * 16}/tokens/verify", token=TOKEN_2), 401, 1000)
        self.assertError(self.get(f"/accounts/{'ab' * 16}/tokens/verify"), 401, 1000)

    def test_lookups_down_and_plan_changes(self):
        self.control("POST", "/_fake/faults", {"lookup_status": 502})
        r = self.get("/zones?name=a.example")
        self.assertEqual(r.status, 502)
        self.assertEqual(self.last()["fault"], "lookup_status")
        self.assertOk(self.purge({"files": ["https://a.example/x"]}))  # purges are not affected
        self.control("POST", "/_fake/faults", {"lookup_status": None})
        self.control("POST", "/_fake/accounts/acct1", {"plan": "pro"})
        r = self.get(f"/zones/{ZONE_A}")
        self.assertEqual(r.json["result"]["plan"]["legacy_id"], "pro")

    def test_lookups_count_in_the_global_window(self):
        self.control("POST", "/_fake/accounts/acct1", {"global_requests": 2})
        self.assertEqual(self.get("/zones?name=a.example").status, 200)
        self.assertEqual(self.get("/user/tokens/verify").status, 200)
        r = self.get("/zones?name=a.example")
        self.assertError(r, 429, 971)
        self.assertTrue(r.headers.getheader("Retry-After"))


class RoutingTest(FakeTestCase):
    def test_success_with_and_without_prefix(self):
        self.assertOk(self.purge({"files": ["https://a.example/x"]}))
        self.assertOk(self.purge({"files": ["https://a.example/y"]}, prefix=""))
        self.assertOk(self.purge({"tags": ["t"]}, zone=ZONE_C, token=TOKEN_2), zone=ZONE_C)

    def test_unknown_path_is_7000(self):
        r = self.raw_request("POST", "/client/v4/zones/%s/purge" % ZONE_A, b"{}",
                             {"Content-Type": "application/json"})
        self.assertError(r, 404, 7000, "No route for that URI")
        r = self.raw_request("GET", "/", None)
        self.assertError(r, 404, 7000)
        self.assertTrue(self.last()["violation"])

    def test_unknown_or_malformed_zone_is_7003(self):
        r = self.purge({"files": ["https://a.example/x"]}, zone=UNKNOWN_ZONE)
        self.assertError(r, 404, 7003, f"Could not route to /zones/{UNKNOWN_ZONE}/purge_cache, "
                                       "perhaps your object identifier is invalid?")
        self.assertEqual(r.json["errors"][1]["code"], 7000)
        self.assertFalse(self.last()["violation"])
        for bad in ("a.example", ZONE_A.upper(), ZONE_A[:-1], ZONE_A + "0"):
            self.assertError(self.purge({"files": ["https://a.example/x"]}, zone=bad), 404, 7003)
            self.assertTrue(self.last()["violation"])

    def test_other_methods_are_405(self):
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            r = self.purge({"files": ["https://a.example/x"]}, method=method)
            self.assertError(r, 405, 7001)
            self.assertEqual(r.headers.getheader("Allow"), "POST")
        self.assertEqual(self.fake.purged()[ZONE_A], {})


class AuthTest(FakeTestCase):
    body = {"files": ["https://a.example/x"]}

    def test_missing_header_is_9106(self):
        r = self.purge(self.body, token=None)
        self.assertError(r, 400, 9106,
                         "Missing X-Auth-Key, X-Auth-Email or Authorization headers")

    def test_malformed_header_is_6003_with_6111(self):
        for value in ("Basic abc", f"bearer {TOKEN_1}", "Bearer", "Bearer ", f"Bearer  {TOKEN_1}",
                      f"{TOKEN_1}", f"Bearer {TOKEN_1} x"):
            r = self.purge(self.body, token=None, headers={"Authorization": value})
            self.assertError(r, 400, 6003, "Invalid request headers")
            self.assertEqual(r.json["errors"][0]["error_chain"],
                             [{"code": 6111, "message": "Invalid format for Authorization header"}])

    def test_wrong_token_is_9109(self):
        r = self.purge(self.body, token="nope")
        self.assertError(r, 403, 9109, "Unauthorized to access requested resource")

    def test_other_accounts_token_is_10000(self):
        r = self.purge(self.body, token=TOKEN_2)
        self.assertError(r, 403, 10000, "Authentication error")
        r = self.purge({"files": ["https://c.example/x"]}, zone=ZONE_C, token=TOKEN_1)
        self.assertError(r, 403, 10000)

    def test_legacy_key_is_refused(self):
        r = self.purge(self.body, token=None,
                       headers={"X-Auth-Email": "a@b.c", "X-Auth-Key": "k"})
        self.assertError(r, 403, 9103)

    def test_nothing_purged_on_auth_errors(self):
        self.purge(self.body, token=None)
        self.purge(self.body, token="nope")
        self.assertEqual(self.fake.purged()[ZONE_A], {})
        self.assertEqual(self.fake.stats()["accepted"], 0)


class ContentTypeAndSizeTest(FakeTestCase):
    def test_content_type_must_be_json(self):
        for ctype in ("text/plain", "application/x-www-form-urlencoded", None,
                      "application/json; charset=latin-1"):
            r = self.purge({"tags": ["x"]}, headers={"Content-Type": ctype})
            self.assertError(r, 415, 6003)
        self.assertOk(self.purge({"tags": ["x"]},
                                 headers={"Content-Type": "application/json; charset=utf-8"}))

    def test_body_over_1_mib_is_413_and_closes(self):
        url = "https://a.example/" + "x" * 4000
        body = json.dumps({"files": [url] * 300}).encode()
        self.assertGreater(len(body), 1 << 20)
        conn = self.connect()
        r = self.purge(body, conn=conn)
        self.assertError(r, 413, 1012)
        self.assertEqual(r.headers.getheader("Connection"), "close")
        conn.close()
        # Exactly at the limit is fine as far as size goes (the body itself is then invalid).
        r = self.purge(b" " * (1 << 20))
        self.assertError(r, 400, 1012)

    def test_chunked_body(self):
        conn = self.connect()
        conn.putrequest("POST", f"/client/v4/zones/{ZONE_A}/purge_cache")
        conn.putheader("Authorization", f"Bearer {TOKEN_1}")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for part in (b'{"tags":', b' ["chunky"]}'):
            conn.send(b"%x\r\n%s\r\n" % (len(part), part))
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        self.assertOk(Response(response.status, response, response.read()))
        conn.close()
        self.assertIn("tag:chunky", self.fake.purged()[ZONE_A])


class BodyRulesTest(FakeTestCase):
    def check(self, body, code, contains=None, status=400):
        before = self.fake.purged()
        r = self.purge(body)
        self.assertError(r, status, code, contains)
        self.assertEqual(self.fake.purged(), before, "a rejected request purged something")
        return r

    def test_invalid_json_and_non_objects(self):
        for body in (b"", b"{", b"nope", b'{"tags": [NaN]}', b'{"tags": ["a"]} x',
                     b'\xef\xbb\xbf{"tags": ["a"]}', b'{"tags": ["\xff"]}'):
            self.check(body, 1012)
        for body in ([], ["https://a.example/x"], "x", 5, None, True):
            self.check(json.dumps(body), 1012)

    def test_no_kind_and_unknown_members(self):
        self.check({}, 1012, 'Request must contain one of "purge_everything", "files", "tags", '
                             '"hosts" or "prefixes"')
        self.check({"bogus": True}, 1012, "bogus")
        self.check({"files": ["https://a.example/x"], "zone": "a.example"}, 1012, "zone")
        self.check(b'{"tags": ["a"], "tags": ["b"]}', 1012, "duplicate")

    def test_purge_everything_rules(self):
        self.assertOk(self.purge({"purge_everything": True}))
        self.assertIn("purge_everything", self.fake.purged()[ZONE_A])
        self.fake.reset()
        for other in ("files", "tags", "hosts", "prefixes"):
            self.check({"purge_everything": True, other: ["a.example"]}, 1092,
                       'Request cannot contain "purge_everything" and any of')
        self.check({"purge_everything": False, "tags": ["x"]}, 1092)
        for value in (False, 1, "true", None, [True]):
            self.check({"purge_everything": value}, 1013, "'purge_everything' must be true")

    def test_one_kind_per_request(self):
        self.check({"files": ["https://a.example/x"], "tags": ["t"]}, 1012, "not several")
        self.check({"hosts": ["a.example"], "prefixes": ["a.example/x"]}, 1012)

    def test_arrays_required_and_non_empty(self):
        for kind in ("files", "tags", "hosts", "prefixes"):
            for value in (None, "a.example", {"a": 1}, 5):
                self.check({kind: value}, 1014, f"'{kind}' must be an array")
            self.check({kind: []}, 1014, "non-empty")

    def test_caps(self):
        files = [f"https://a.example/{i}" for i in range(500)]
        self.assertOk(self.purge({"files": files}))
        self.check({"files": files + ["https://a.example/500"]}, 1094, "more than 500 files")
        # acct2's cap is 100.
        r = self.purge({"files": [f"https://c.example/{i}" for i in range(101)]}, zone=ZONE_C,
                       token=TOKEN_2)
        self.assertError(r, 400, 1094, "more than 100 files")
        for kind, code, make in (("tags", 1101, lambda i: f"t{i}"),
                                 ("hosts", 1111, lambda i: f"h{i}.a.example"),
                                 ("prefixes", 1121, lambda i: f"a.example/p{i}")):
            items = [make(i) for i in range(100)]
            self.assertOk(self.purge({kind: items}))
            r = self.purge({kind: items + [make(100)]})
            self.assertError(r, 400, code, f"more than 100 {kind}")

    def test_files_accepted(self):
        ok = ["https://a.example/", "http://a.example", "https://www.a.example/a/b?c=d&e",
              "HTTPS://A.EXAMPLE/Path", "https://deep.sub.a.example:8443/x",
              "https://a.example/%E2%82%AC"]
        self.assertOk(self.purge({"files": ok}))
        self.assertEqual(set(self.fake.purged()[ZONE_A]), set(ok))

    def test_files_invalid_url(self):
        r = self.check({"files": ["/path/only"]}, 1015)
        self.assertEqual(r.message, "Unable to purge /path/only, which is an invalid URL.")
        for bad in ("a.example/x", "ftp://a.example/x", "https:///x", "https://a.example/a b",
                    "https://a.example/x#frag", "https://user@a.example/x",
                    "https://a.example:0/x", "https://a.example:99999/x", "https://a..example/",
                    "https://a.example/\u00e9", "https://[::1]/x", "https://1.2.3.4/x", "",
                    "https://-a.example/", 5, None, ["https://a.example/"]):
            self.check({"files": [bad]}, 1015)

    def test_files_outside_zone_is_1082(self):
        for url in ("https://b.example/x", "https://evil-a.example/x", "https://a.example.com/x",
                    "https://xa.example/x"):
            self.check({"files": ["https://a.example/ok", url]}, 1082,
                       "You can only purge files for this zone")
        r = self.purge({"files": ["https://www.c.example/x"]}, zone=ZONE_C, token=TOKEN_2)
        self.assertError(r, 400, 1082)  # zone C lists only the apex

    def test_file_objects(self):
        entry = {"url": "https://a.example/cat.jpg",
                 "headers": {"CF-IPCountry": "US", "CF-Device-Type": "desktop",
                             "Accept-Language": "zh-CN", "Origin": "https://www.a.example:8443"}}
        self.assertOk(self.purge({"files": [entry, {"url": "https://a.example/plain"}]}))
        purged = self.fake.purged()[ZONE_A]
        self.assertIn(file_key(entry["url"], entry["headers"]), purged)
        self.assertIn("https://a.example/plain", purged)
        self.assertFalse(self.last()["mixed_files"])
        self.assertEqual(self.last()["items"][0], entry)

    def test_file_object_rules(self):
        url = "https://a.example/x"
        self.check({"files": [{"headers": {"A": "b"}}]}, 1012, '"url"')
        self.check({"files": [{"url": url, "extra": 1}]}, 1012, "extra")
        for headers in (None, [], "x", {"A": 5}, {"A": None}, {"Bad Name": "x"},
                        {"A": "line\nbreak"}, {"a": "1", "A": "2"},
                        {"Origin": "a.example"}, {"Origin": "https://a.example/path"}):
            self.check({"files": [{"url": url, "headers": headers}]}, 1012)
        self.check({"files": [{"url": "/relative", "headers": {}}]}, 1015)
        self.check({"files": [{"url": "https://b.example/x"}]}, 1082)

    def test_mixed_string_and_object_files_are_accepted_but_recorded(self):
        body = {"files": ["https://a.example/s", {"url": "https://a.example/o",
                                                  "headers": {"CF-Device-Type": "mobile"}}]}
        self.assertOk(self.purge(body))
        self.assertTrue(self.last()["mixed_files"])
        self.assertEqual(self.fake.stats()["mixed_files"], 1)
        self.assertFalse(self.last()["violation"])

    def test_tags(self):
        self.assertOk(self.purge({"tags": ["a", "x" * 1024, "Product-1234", "!~{}"]}))
        self.assertIn("tag:product-1234", self.fake.purged()[ZONE_A])
        self.check({"tags": ["y" * 1025]}, 1100, "Tag exceeds maximum length of 1024")
        for bad in ("", "has space", "tab\t", "caf\u00e9", "a,b", 5, None):
            self.check({"tags": [bad]}, 1015)

    def test_hosts(self):
        self.assertOk(self.purge({"hosts": ["a.example", "WWW.a.example", "x.y.a.example"]}))
        self.assertIn("host:www.a.example", self.fake.purged()[ZONE_A])
        long_host = ("x" * 50 + ".") * 4 + "a.example"
        self.assertGreater(len(long_host), 200)
        self.check({"hosts": [long_host]}, 1114, "Host exceeds maximum length of 200")
        for bad in ("https://a.example", "a.example/x", "a.example:8080", "*.a.example", "",
                    "a example", "1.2.3.4", 5):
            self.check({"hosts": [bad]}, 1115, "Invalid host")
        self.check({"hosts": ["b.example"]}, 1082)

    def test_prefixes(self):
        ok = ["a.example", "a.example/", "www.a.example/blog/", "a.example/" + "/".join("x" * 31)]
        self.assertEqual(ok[-1].count("/"), 31)
        self.assertOk(self.purge({"prefixes": ok}))
        self.assertIn("prefix:www.a.example/blog/", self.fake.purged()[ZONE_A])
        for bad in ("https://a.example/x", "a.example/x?y=1", "a.example/x#f", "a.example:80/x",
                    "/x", "", "a.example/a b", "a.example/" + "/".join("x" * 32), 7,
                    "http:a.example/x"):
            self.check({"prefixes": [bad]}, 1015)
        self.check({"prefixes": ["b.example/x"]}, 1082)

    def test_rejections_are_recorded_as_violations(self):
        self.check({"files": ["/x"]}, 1015)
        entry = self.last()
        self.assertEqual(entry["status"], 400)
        self.assertEqual(entry["error_code"], 1015)
        self.assertEqual(entry["kind"], "files")
        self.assertEqual(entry["items"], ["/x"])
        self.assertTrue(entry["violation"])
        stats = self.fake.stats()
        self.assertEqual(stats["contract_violations"], 1)
        self.assertEqual(stats["violations"][0]["error_code"], 1015)


class RejectMixedTest(FakeTestCase):
    config = make_config(reject_mixed_files=True)

    def test_reject_mixed_files_option(self):
        r = self.purge({"files": ["https://a.example/s", {"url": "https://a.example/o"}]})
        self.assertError(r, 400, 1012)
        self.assertTrue(self.last()["mixed_files"])


class RateLimitTest(FakeTestCase):
    config = make_config(acct1=dict(rate=2, burst=2, urls_per_second=20, url_burst=10,
                                    max_urls=10),
                         acct2=dict(rate=0.5, burst=1, global_requests=3, global_window_s=1,
                                    urls_per_second=1000))

    def test_flex_bucket_429_retry_after_and_recovery(self):
        self.assertOk(self.purge({"tags": ["a"]}))
        self.assertOk(self.purge({"hosts": ["a.example"]}))
        r = self.purge({"purge_everything": True})
        self.assertError(r, 429, 1134, "Unable to purge, rate limit reached. Please wait and "
                                       "consider throttling your request speed")
        self.assertEqual(r.headers.getheader("Retry-After"), "1")
        entry = self.last()
        self.assertEqual(entry["rate_limited"], "flex")
        self.assertEqual(entry["retry_after"], 1)
        self.assertNotIn("purge_everything", self.fake.purged()[ZONE_A])
        # Files use their own bucket, so they still pass.
        self.assertOk(self.purge({"files": ["https://a.example/x"]}))
        time.sleep(0.55)  # one token at 2/s
        self.assertOk(self.purge({"prefixes": ["a.example/x"]}))
        self.assertError(self.purge({"tags": ["b"]}), 429, 1134)
        stats = self.fake.stats()
        self.assertEqual(stats["rate_limited"], 2)
        self.assertEqual(stats["by_status"]["429"], 2)
        self.assertEqual(stats["rate_limited_by"], {"flex": 2})

    def test_url_bucket_costs_one_token_per_file(self):
        self.assertOk(self.purge({"files": [f"https://a.example/{i}" for i in range(10)]}))
        r = self.purge({"files": ["https://a.example/more", "https://a.example/more2"]})
        self.assertError(r, 429, 1134)
        self.assertEqual(r.headers.getheader("Retry-After"), "1")
        self.assertEqual(self.last()["rate_limited"], "urls")
        time.sleep(0.12)  # 20/s: two tokens back
        self.assertOk(self.purge({"files": ["https://a.example/more", "https://a.example/more2"]}))

    def test_retry_after_is_ceiling_of_wait(self):
        self.assertOk(self.purge({"tags": ["a"]}, zone=ZONE_C, token=TOKEN_2), zone=ZONE_C)
        r = self.purge({"tags": ["b"]}, zone=ZONE_C, token=TOKEN_2)
        self.assertError(r, 429, 1134)
        self.assertEqual(r.headers.getheader("Retry-After"), "2")  # 0.5 tokens/s

    def test_rejected_requests_do_not_consume(self):
        self.assertOk(self.purge({"tags": ["a"]}))
        for _ in range(5):
            self.assertError(self.purge({"tags": [""]}), 400, 1015)
            self.assertError(self.purge({"tags": ["a"]}, token="nope"), 403, 9109)
        self.assertOk(self.purge({"tags": ["b"]}))
        self.assertError(self.purge({"tags": ["c"]}), 429, 1134)
        self.assertError(self.purge({"tags": ["c"]}), 429, 1134)  # 429s consume nothing either
        time.sleep(0.55)
        self.assertOk(self.purge({"tags": ["c"]}))

    def test_global_budget(self):
        # Refilled: the flex bucket keeps its level (1 token) across an update, and the second
        # tag then needed a millisecond of refill; on a loaded machine it could be refused by the
        # flex bucket instead of being let through to the global budget this test is about.
        self.fake.update_account("acct2", {"rate": 1000, "burst": 1000, "refill": True})
        for i in range(3):
            self.assertOk(self.purge({"tags": [f"t{i}"]}, zone=ZONE_C, token=TOKEN_2), ZONE_C)
        r = self.purge({"files": ["https://c.example/x"]}, zone=ZONE_C, token=TOKEN_2)
        self.assertError(r, 429, 1134)
        self.assertEqual(r.headers.getheader("Retry-After"), "1")
        self.assertEqual(self.last()["rate_limited"], "global")
        time.sleep(1.05)
        self.assertOk(self.purge({"files": ["https://c.example/x"]}, zone=ZONE_C, token=TOKEN_2),
                      ZONE_C)

    def test_runtime_account_update_and_reset(self):
        status, state = self.control("POST", "/_fake/accounts/acct1",
                                     {"flex_tokens": 0, "rate": 1})
        self.assertEqual(status, 200)
        self.assertEqual(state["rate"], 1)
        self.assertLess(state["flex_tokens"], 0.1)
        self.assertError(self.purge({"tags": ["a"]}), 429, 1134)
        self.control("POST", "/_fake/reset")
        self.assertEqual(self.fake.requests(), [])
        self.assertOk(self.purge({"tags": ["a"]}))
        status, body = self.control("POST", "/_fake/accounts/nobody", {"rate": 1})
        self.assertEqual(status, 404)
        status, body = self.control("POST", "/_fake/accounts/acct1", {"url_burst": 5})
        self.assertEqual(status, 400)
        self.assertIn("url_burst", body["error"])
        status, body = self.control("GET", "/_fake/accounts")
        self.assertEqual(set(body), {"acct1", "acct2"})


class FaultTest(FakeTestCase):
    def set_faults(self, **faults):
        status, body = self.control("POST", "/_fake/faults", faults)
        self.assertEqual(status, 200, body)
        return body

    def test_drop_closes_without_answer_and_purges_nothing(self):
        self.set_faults(sequence=["drop"])
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.purge({"files": ["https://a.example/dropped"]})
        self.assertNotIn("https://a.example/dropped", self.fake.purged()[ZONE_A])
        entry = self.last()
        self.assertEqual(entry["fault"], "drop")
        self.assertIsNone(entry["status"])
        self.assertOk(self.purge({"files": ["https://a.example/dropped"]}))

    def test_lost_response_purges_then_closes(self):
        self.set_faults(sequence=["lost_response"])
        before = time.monotonic()
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.purge({"tags": ["lost"]})
        times = self.fake.purged()["0a" * 16]["tag:lost"]
        self.assertEqual(len(times), 1)
        self.assertGreaterEqual(times[0], before)
        self.assertEqual(self.fake.stats()["faults"], {"lost_response": 1})
        self.assertEqual(self.fake.stats()["accepted"], 1)

    def test_500_and_502_html(self):
        self.set_faults(sequence=["500", "502_html"])
        r = self.purge({"tags": ["x"]})
        self.assertEqual(r.status, 500)
        self.assertIs(r.json["success"], False)
        r = self.purge({"tags": ["x"]})
        self.assertEqual(r.status, 502)
        self.assertEqual(r.headers.getheader("Content-Type"), "text/html")
        self.assertIsNone(r.json)
        self.assertIn(b"502 Bad Gateway", r.raw)
        self.assertEqual(self.fake.purged()[ZONE_A], {})
        self.assertOk(self.purge({"tags": ["x"]}))

    def test_slow(self):
        self.set_faults(sequence=["slow"], slow_seconds=0.3)
        start = time.monotonic()
        self.assertOk(self.purge({"tags": ["slow"]}))
        self.assertGreaterEqual(time.monotonic() - start, 0.3)
        self.assertGreaterEqual(self.fake.purged()[ZONE_A]["tag:slow"][0], start + 0.29)

    def test_fail_rate_is_deterministic_with_seed(self):
        def run():
            self.set_faults(fail_rate=0.5, kinds=["500", "502_html"], seed=42)
            return [self.purge({"tags": [f"t{i}"]}).status for i in range(20)]

        first = run()
        second = run()
        self.assertEqual(first, second)
        self.assertIn(200, first)
        self.assertTrue(set(first) - {200})
        self.set_faults(fail_rate=1.0, kinds={"500": 1})
        self.assertEqual(self.purge({"tags": ["x"]}).status, 500)
        self.set_faults()
        self.assertOk(self.purge({"tags": ["x"]}))

    def test_faults_only_hit_valid_requests(self):
        self.set_faults(fail_rate=1.0, kinds=["500"])
        self.assertError(self.purge({"tags": [""]}), 400, 1015)
        self.assertError(self.purge({"tags": ["a"]}, token="nope"), 403, 9109)
        self.assertEqual(self.purge({"tags": ["a"]}).status, 500)

    def test_refuse_items(self):
        self.set_faults(refuse_items=["https://a.example/poison", "Bad-Tag"])
        r = self.purge({"files": ["https://a.example/fine", "https://a.example/poison"]})
        self.assertError(r, 400, 1015,
                         "Unable to purge https://a.example/poison, which is an invalid URL.")
        self.assertEqual(self.fake.purged()[ZONE_A], {})
        self.assertEqual(self.last()["fault"], "refuse_items")
        self.assertFalse(self.last()["violation"])
        r = self.purge({"files": [{"url": "https://a.example/poison", "headers": {"A": "b"}}]})
        self.assertError(r, 400, 1015)
        r = self.purge({"tags": ["ok", "bad-tag"]})
        self.assertError(r, 400, 1015, "bad-tag")
        self.assertOk(self.purge({"files": ["https://a.example/fine"]}))
        self.assertIn("https://a.example/fine", self.fake.purged()[ZONE_A])

    def test_force_status(self):
        self.set_faults(force_status={"status": 401, "count": 2})
        for _ in range(2):
            self.assertError(self.purge({"tags": ["x"]}), 401, 1000)
        self.assertOk(self.purge({"tags": ["x"]}))
        self.set_faults(force_status={"status": 403, "count": None, "accounts": ["acct2"]})
        self.assertOk(self.purge({"tags": ["x"]}))
        for _ in range(3):
            self.assertError(self.purge({"tags": ["x"]}, zone=ZONE_C, token=TOKEN_2), 403, 9109)
        self.set_faults(force_status={"status": 429, "retry_after": 7})
        r = self.purge({"tags": ["x"]})
        self.assertError(r, 429, 1134)
        self.assertEqual(r.headers.getheader("Retry-After"), "7")
        self.assertEqual(self.fake.stats()["faults"]["force_status"], 6)
        self.assertEqual(self.fake.stats()["rate_limited"], 0)  # forced, not the buckets

    def test_pause_auth(self):
        self.set_faults(pause_auth=["acct1"])
        for _ in range(3):
            self.assertError(self.purge({"tags": ["x"]}), 403, 10000, "Authentication error")
        self.assertOk(self.purge({"tags": ["x"]}, zone=ZONE_C, token=TOKEN_2), ZONE_C)
        self.set_faults()
        self.assertOk(self.purge({"tags": ["x"]}))

    def test_fault_settings_api(self):
        status, body = self.control("GET", "/_fake/faults")
        self.assertEqual(body["fail_rate"], 0.0)
        status, body = self.control("POST", "/_fake/faults", {"fail_rate": 2})
        self.assertEqual(status, 400)
        status, body = self.control("POST", "/_fake/faults", {"kinds": ["boom"]})
        self.assertEqual(status, 400)
        status, body = self.control("POST", "/_fake/faults", {"bogus": 1})
        self.assertEqual(status, 400)
        self.set_faults(slow_seconds=5, pause_auth=["acct2"])
        status, body = self.control("POST", "/_fake/faults?merge=1", {"fail_rate": 0.25})
        self.assertEqual((body["fail_rate"], body["slow_seconds"], body["pause_auth"]),
                         (0.25, 5.0, ["acct2"]))
        status, body = self.control("POST", "/_fake/faults", {"fail_rate": 0.25})
        self.assertEqual(body["pause_auth"], [])

    def test_faults_from_config(self):
        fake = FakeCloudflare(make_config(faults={"sequence": ["500"]}))
        self.port = fake.start()
        self.addCleanup(fake.stop)
        self.assertEqual(self.purge({"tags": ["x"]}).status, 500)
        self.assertOk(self.purge({"tags": ["x"]}))


class RecordingTest(FakeTestCase):
    def test_request_log(self):
        before = time.monotonic()
        self.assertOk(self.purge({"files": ["https://a.example/1", "https://a.example/1"]}))
        self.purge({"tags": ["x"]}, token="nope")
        self.assertOk(self.purge({"hosts": ["b.example"]}, zone=ZONE_B), ZONE_B)
        after = time.monotonic()
        status, log = self.control("GET", "/_fake/requests")
        self.assertEqual(status, 200)
        self.assertEqual([e["seq"] for e in log], [1, 2, 3])
        first = log[0]
        for key in ("seq", "time", "zone_id", "account", "kind", "items", "status", "error_code",
                    "mixed_files", "fault"):
            self.assertIn(key, first)
        self.assertEqual((first["zone_id"], first["account"], first["kind"], first["status"],
                          first["error_code"], first["mixed_files"], first["fault"],
                          first["duplicates"]),
                         (ZONE_A, "acct1", "files", 200, None, False, None, 1))
        self.assertEqual(first["items"], ["https://a.example/1", "https://a.example/1"])
        self.assertTrue(before <= first["time"] <= after)
        self.assertEqual((log[1]["status"], log[1]["error_code"]), (403, 9109))
        status, tail = self.control("GET", "/_fake/requests?since=2")
        self.assertEqual([e["seq"] for e in tail], [3])

        status, purged = self.control("GET", "/_fake/purged")
        self.assertEqual(set(purged), {ZONE_A, ZONE_B, ZONE_C})
        self.assertEqual(len(purged[ZONE_A]["https://a.example/1"]), 2)
        self.assertTrue(all(before <= t <= after for t in purged[ZONE_A]["https://a.example/1"]))
        self.assertIn(purge_key("hosts", "B.example"), purged[ZONE_B])
        status, wall = self.control("GET", "/_fake/purged?clock=wall")
        self.assertAlmostEqual(wall[ZONE_B]["host:b.example"][0], time.time(), delta=5)

        status, stats = self.control("GET", "/_fake/stats")
        self.assertEqual(stats["requests"], 3)
        self.assertEqual(stats["by_status"], {"200": 2, "403": 1})
        self.assertEqual(stats["accepted"], 2)
        self.assertEqual(stats["duplicates"], 1)
        self.assertEqual(stats["contract_violations"], 0)
        self.assertEqual(stats["accounts"]["acct1"]["requests"], 3)

        status, body = self.control("POST", "/_fake/reset")
        self.assertEqual(body, {"ok": True})
        self.assertEqual(self.control("GET", "/_fake/requests")[1], [])
        self.assertEqual(self.control("GET", "/_fake/purged")[1][ZONE_A], {})
        self.assertEqual(self.control("GET", "/_fake/stats")[1]["requests"], 0)
        self.purge({"tags": ["x"]})
        self.assertEqual(self.last()["seq"], 4)  # seq keeps increasing across resets

    def test_control_errors(self):
        self.assertEqual(self.control("GET", "/_fake/nope")[0], 404)
        self.assertEqual(self.control("POST", "/_fake/stats", {})[0], 405)
        self.assertEqual(self.control("GET", "/_fake/requests?since=x")[0], 400)
        self.assertEqual(self.control("GET", "/_fake/health"), (200, {"ok": True}))

    def test_concurrent_requests(self):
        results = []
        lock = threading.Lock()

        def worker(n):
            r = self.purge({"files": [f"https://a.example/c/{n}/{i}" for i in range(20)]})
            with lock:
                results.append(r.status)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 20)
        self.assertEqual(len(self.fake.purged()[ZONE_A]), 400)
        self.assertEqual(sorted(e["seq"] for e in self.fake.requests()), list(range(1, 21)))


class ConnectionTest(FakeTestCase):
    def test_keep_alive(self):
        conn = self.connect()
        self.assertOk(self.purge({"tags": ["one"]}, conn=conn))
        sock = conn.sock
        self.assertIsNotNone(sock)
        self.assertError(self.purge({"tags": [""]}, conn=conn), 400, 1015)
        self.assertError(self.purge({"tags": ["x"]}, headers={"Content-Type": "text/plain"},
                                    conn=conn), 415, 6003)
        self.assertOk(self.purge({"tags": ["two"]}, conn=conn))
        self.assertIs(conn.sock, sock)  # still the same connection
        r = self.raw_request("GET", "/_fake/stats", conn=conn)
        self.assertEqual(r.status, 200)
        self.assertIs(conn.sock, sock)
        conn.close()

    def test_stop_closes_connections_and_restart_keeps_state(self):
        conn = self.connect()
        self.assertOk(self.purge({"tags": ["one"]}, conn=conn))
        self.fake.stop()
        with self.assertRaises((ConnectionError, http.client.HTTPException, OSError)):
            self.purge({"tags": ["two"]}, conn=conn)
        conn.close()
        with self.assertRaises(OSError):
            self.purge({"tags": ["three"]})
        self.assertEqual(self.fake.start(), self.port)
        self.assertOk(self.purge({"tags": ["four"]}))
        self.assertEqual(set(self.fake.purged()[ZONE_A]), {"tag:one", "tag:four"})

    def test_bad_request_line_gets_json(self):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.sendall(b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        sock.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 501"), data)
        self.assertIn(b'"success": false', data)


class ConfigTest(unittest.TestCase):
    def test_defaults_from_plan(self):
        config = make_config()
        config["accounts"][0] = dict(name="acct1", token=TOKEN_1)
        config["accounts"][1] = dict(name="acct2", token=TOKEN_2, plan="free")
        fake = FakeCloudflare(config)
        accounts = fake.accounts()
        self.assertEqual((accounts["acct1"]["rate"], accounts["acct1"]["burst"],
                          accounts["acct1"]["max_urls"], accounts["acct1"]["url_burst"],
                          accounts["acct1"]["max_ops"], accounts["acct1"]["global_requests"]),
                         (50, 500, 500, 3000, 100, None))
        self.assertAlmostEqual(accounts["acct2"]["rate"], 5 / 60)
        self.assertEqual((accounts["acct2"]["burst"], accounts["acct2"]["max_urls"],
                          accounts["acct2"]["url_burst"]), (25, 100, 800))

    def test_invalid_configs(self):
        cases = [
            ({"bogus": 1}, "bogus"),
            ({"accounts": []}, "accounts"),
        ]
        for change, word in cases:
            config = make_config()
            config.update(change)
            with self.assertRaises(ConfigError) as ctx:
                FakeCloudflare(config)
            self.assertIn(word, str(ctx.exception))
        for acct, word in ((dict(url_burst=50, max_urls=100), "url_burst"),
                           (dict(rate=0), "rate"), (dict(plan="gold"), "plan"),
                           (dict(token=TOKEN_1), "token"), (dict(extra=1), "extra")):
            with self.assertRaises(ConfigError) as ctx:
                FakeCloudflare(make_config(acct2=acct))
            self.assertIn(word, str(ctx.exception))
        for zone, word in ((dict(id="ABC"), "id"), (dict(account="nobody"), "account"),
                           (dict(hosts=["http://x"]), "hosts")):
            config = make_config()
            config["zones"][0].update(zone)
            with self.assertRaises(ConfigError) as ctx:
                FakeCloudflare(config)
            self.assertIn(word, str(ctx.exception))


class CommandLineTest(unittest.TestCase):
    def test_port_file_startup_and_sigterm(self):
        tmp = tempfile.mkdtemp(prefix="fake-cf-test-")
        config_path = os.path.join(tmp, "fake.json")
        port_file = os.path.join(tmp, "port")
        with open(config_path, "w") as f:
            json.dump(make_config(), f)
        proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "fake_cloudflare.py"), "--port", "0",
             "--config", config_path, "--port-file", port_file],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            self.assertRegex(line, r"^listening on 127\.0\.0\.1:\d+\n$")
            port = int(line.rsplit(":", 1)[1])
            with open(port_file) as f:
                self.assertEqual(int(f.read()), port)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", f"/client/v4/zones/{ZONE_A}/purge_cache",
                         body=json.dumps({"tags": ["cli"]}),
                         headers={"Authorization": f"Bearer {TOKEN_1}",
                                  "Content-Type": "application/json"})
            response = conn.getresponse()
            self.assertEqual(response.status, 200)
            response.read()
            conn.request("GET", "/_fake/purged")
            purged = json.loads(conn.getresponse().read())
            self.assertIn("tag:cli", purged[ZONE_A])
            conn.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=10)
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(err, "")  # silent without --verbose

    def test_bad_config_exits_2(self):
        tmp = tempfile.mkdtemp(prefix="fake-cf-test-")
        config_path = os.path.join(tmp, "fake.json")
        with open(config_path, "w") as f:
            json.dump({"accounts": []}, f)
        proc = subprocess.run([sys.executable, os.path.join(HERE, "fake_cloudflare.py"),
                               "--config", config_path], capture_output=True, text=True,
                              timeout=10)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("accounts", proc.stderr)


if __name__ == "__main__":
    unittest.main()
