#!/usr/bin/env python3
"""A strict fake of Cloudflare's cache-purge API, for purgeq's tests.

Served: POST [/client/v4]/zones/{zone_id}/purge_cache, and what purgeqd reads to find its zones
by name: GET /zones?name=&page=&per_page=, GET /zones/{zone_id}, GET /user/tokens/verify and
GET /accounts/{account_id}/tokens/verify.
It enforces the contract in reference/cloudflare-purge-api.md at least as strictly as the real API
(stricter where the reference says that is safe: one kind per request, no unknown members), paces
each account with Cloudflare's token buckets, records every request, and injects faults on demand.
A control API under /_fake/ lets tests inspect and steer it.

Standard library only (Python 3.9+). Run it as a program:

    python3 fake_cloudflare.py --port 0 --config fake.json [--port-file PATH] [--verbose]

or in-process:

    fake = FakeCloudflare(config_dict)
    port = fake.start()
    ...
    fake.stop()

See README.md in this folder for the config format and the control API.
"""

import argparse
import collections
import hashlib
import http.server
import json
import math
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import traceback
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeCloudflare", "ConfigError", "file_key", "purge_key", "PLANS", "FAULT_KINDS"]

ZONE_ID_RE = re.compile(r"[0-9a-f]{32}")
PURGE_PATH_RE = re.compile(r"(?:/client/v4)?/zones/([^/]*)/purge_cache")
ZONES_PATH_RE = re.compile(r"(?:/client/v4)?/zones")
ZONE_PATH_RE = re.compile(r"(?:/client/v4)?/zones/([^/]*)")
USER_VERIFY_RE = re.compile(r"(?:/client/v4)?/user/tokens/verify")
ACCOUNT_VERIFY_RE = re.compile(r"(?:/client/v4)?/accounts/([^/]*)/tokens/verify")
BEARER_RE = re.compile(r"Bearer ([!-~]+)")
TCHAR_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")

DEFAULT_MAX_BODY_BYTES = 1 << 20
MAX_TAG_LENGTH = 1024
MAX_HOST_LENGTH = 200
MAX_PREFIX_SLASHES = 31

# Cloudflare's documented per-plan defaults (reference §3.1). `rate` is flex requests per second.
PLANS = {
    "free": dict(rate=5 / 60, burst=25, urls_per_second=800, max_ops=100, max_urls=100),
    "pro": dict(rate=5, burst=25, urls_per_second=1500, max_ops=100, max_urls=100),
    "business": dict(rate=10, burst=50, urls_per_second=1500, max_ops=100, max_urls=100),
    "enterprise": dict(rate=50, burst=500, urls_per_second=3000, max_ops=100, max_urls=500),
}
DEFAULT_PLAN = "enterprise"
DEFAULT_GLOBAL_WINDOW_S = 300

KINDS = ("files", "tags", "hosts", "prefixes")
FLEX_KINDS = ("tags", "hosts", "prefixes", "purge_everything")
FAULT_KINDS = ("500", "502_html", "drop", "slow", "lost_response")
DEFAULT_FAULT_KINDS = ["500", "502_html", "drop", "lost_response"]

RATE_LIMIT_MESSAGE = ("Unable to purge, rate limit reached. Please wait and consider throttling "
                      "your request speed")
ONE_OF_MESSAGE = ('Request must contain one of "purge_everything", "files", "tags", "hosts" or '
                  '"prefixes"')

HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
            b"</body>\r\n</html>\r\n")

# Default answers for faults.force_status, by HTTP status.
FORCED_DEFAULTS = {
    400: (1012, "Request rejected (forced by the fake)"),
    401: (1000, "Invalid API Token"),
    403: (9109, "Invalid access token"),
    404: (7003, "Could not route to /zones/{zone}/purge_cache, perhaps your object identifier "
                "is invalid?"),
    429: (1134, RATE_LIMIT_MESSAGE),
}


class ConfigError(ValueError):
    """The fake's config (or a control-API update) is invalid."""


class ApiError(Exception):
    """A Cloudflare-style error answer."""

    def __init__(self, status, code, message, *, more=(), chain=None, headers=(),
                 violation=True, fault=None, rate_limited=None, retry_after=None, close=False):
        super().__init__(message)
        self.status = status
        error = {"code": code, "message": message}
        if chain:
            error["error_chain"] = [{"code": c, "message": m} for c, m in chain]
        self.errors = [error] + [{"code": c, "message": m} for c, m in more]
        self.code = code
        self.message = message
        self.headers = list(headers)
        self.violation = violation
        self.fault = fault
        self.rate_limited = rate_limited
        self.retry_after = retry_after
        self.close = close


# --------------------------------------------------------------------------------------------
# Item rules


def _is_hostname(host):
    """A lower-case DNS name: labels of [a-z0-9-], no leading/trailing '-', not an IP address."""
    if not host or len(host) > 253:
        return False
    labels = host.split(".")
    if labels[-1].isdigit():
        return False
    return all(LABEL_RE.fullmatch(label) for label in labels)


def _printable_ascii(text, allow_space=False):
    low = 0x20 if allow_space else 0x21
    return all(low <= ord(c) <= 0x7E for c in text)


def _host_in_zone(host, patterns):
    for pattern in patterns:
        if pattern.startswith("*."):
            suffix = pattern[1:]
            if host.endswith(suffix) and len(host) > len(suffix):
                return True
        elif host == pattern:
            return True
    return False


def _invalid_url(url):
    shown = url if isinstance(url, str) else json.dumps(url)
    return ApiError(400, 1015, f"Unable to purge {shown}, which is an invalid URL.")


def _check_url(url):
    """Validates an absolute http(s) URL; returns its lower-cased host."""
    if not isinstance(url, str) or not url or not _printable_ascii(url):
        raise _invalid_url(url)
    match = re.fullmatch(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^#]*)", url)
    if not match or match.group(1).lower() not in ("http", "https"):
        raise _invalid_url(url)
    authority = match.group(2)
    if "@" in authority or authority.startswith("["):
        raise _invalid_url(url)
    host, port = authority, None
    if ":" in authority:
        host, port = authority.rsplit(":", 1)
        if not port.isdigit() or len(port) > 5 or not 1 <= int(port) <= 65535:
            raise _invalid_url(url)
    host = host.lower()
    if not _is_hostname(host):
        raise _invalid_url(url)
    return host


def _check_origin(value):
    match = re.fullmatch(r"(?i:https?)://([^/?#@:]+)(?::([0-9]{1,5}))?", value)
    if not match or not _is_hostname(match.group(1).lower()):
        return False
    return match.group(2) is None or 1 <= int(match.group(2)) <= 65535


def file_key(url, headers=None):
    """The key under which /_fake/purged records a file: the URL itself when it has no headers,
    else the URL, a space and the headers as compact JSON (names lower-cased, sorted)."""
    if not headers:
        return url
    canonical = {name.lower(): value for name, value in headers.items()}
    return url + " " + json.dumps(canonical, sort_keys=True, separators=(",", ":"))


def purge_key(kind, item=None):
    """The /_fake/purged key of one item of a kind ("files", "tags", "hosts", "prefixes",
    "purge_everything"). Tags and hosts are case-insensitive, so their keys are lower-cased."""
    if kind == "files":
        if isinstance(item, dict):
            return file_key(item["url"], item.get("headers"))
        return item
    if kind == "tags":
        return "tag:" + item.lower()
    if kind == "hosts":
        return "host:" + item.lower()
    if kind == "prefixes":
        return "prefix:" + item
    if kind == "purge_everything":
        return "purge_everything"
    raise ValueError(f"unknown kind {kind!r}")


def _check_file(entry, zone_hosts):
    """Validates one `files` entry. Returns True if it is an object."""
    if isinstance(entry, dict):
        unknown = sorted(set(entry) - {"url", "headers"})
        if "url" not in entry:
            raise ApiError(400, 1012, 'File object must contain "url"')
        if unknown:
            raise ApiError(400, 1012, f'File object has unknown member "{unknown[0]}"; only '
                                      '"url" and "headers" are allowed')
        url = entry["url"]
        host = _check_url(url)
        headers = entry.get("headers", {})
        if not isinstance(headers, dict):
            raise ApiError(400, 1012, f'"headers" of {url} must be an object of strings')
        seen = set()
        for name, value in headers.items():
            if not TCHAR_RE.fullmatch(name):
                raise ApiError(400, 1012, f"Invalid header name {name!r} for {url}")
            if name.lower() in seen:
                raise ApiError(400, 1012, f"Header {name!r} given twice for {url}")
            seen.add(name.lower())
            if not isinstance(value, str) or not _printable_ascii(value, allow_space=True):
                raise ApiError(400, 1012, f"Header {name!r} of {url} must be a printable "
                                          "ASCII string")
            if name.lower() == "origin" and not _check_origin(value):
                raise ApiError(400, 1012, f"Origin header {value!r} of {url} must be "
                                          "scheme://host[:port]")
        is_object = True
    elif isinstance(entry, str):
        url = entry
        host = _check_url(url)
        is_object = False
    else:
        raise _invalid_url(entry)
    if not _host_in_zone(host, zone_hosts):
        raise ApiError(400, 1082, f"You can only purge files for this zone: {url}")
    return is_object


def _check_tag(tag):
    if not isinstance(tag, str):
        raise ApiError(400, 1015, f"Unable to purge tag {json.dumps(tag)}: tags are strings")
    if len(tag) > MAX_TAG_LENGTH:
        raise ApiError(400, 1100, f"Tag exceeds maximum length of {MAX_TAG_LENGTH} characters")
    if not tag or not _printable_ascii(tag) or "," in tag:
        raise ApiError(400, 1015, f"Unable to purge tag {json.dumps(tag)}: tags are 1 to "
                                  f"{MAX_TAG_LENGTH} printable ASCII characters without spaces "
                                  "or commas")


def _check_host(host, zone_hosts):
    if not isinstance(host, str):
        raise ApiError(400, 1115, f"Invalid host {json.dumps(host)}")
    if len(host) > MAX_HOST_LENGTH:
        raise ApiError(400, 1114, f"Host exceeds maximum length of {MAX_HOST_LENGTH} characters")
    if not _is_hostname(host.lower()):
        raise ApiError(400, 1115, f"Invalid host {json.dumps(host)}")
    if not _host_in_zone(host.lower(), zone_hosts):
        raise ApiError(400, 1082, f"You can only purge hosts for this zone: {host}")


def _check_prefix(prefix, zone_hosts):
    def bad(why):
        return ApiError(400, 1015, f"Unable to purge prefix {json.dumps(prefix)}: {why}")

    if not isinstance(prefix, str) or not prefix:
        raise bad("prefixes are non-empty strings")
    if not _printable_ascii(prefix):
        raise bad("only printable ASCII without spaces (percent-encode the rest)")
    if "://" in prefix or re.match(r"(?i)https?:", prefix):
        raise bad("a prefix has no scheme")
    if "?" in prefix or "#" in prefix:
        raise bad("a prefix has no query string or fragment")
    host = prefix.split("/", 1)[0]
    if ":" in host:
        raise bad("a prefix has no port")
    if not _is_hostname(host.lower()):
        raise bad("a prefix starts with a hostname")
    if prefix.count("/") > MAX_PREFIX_SLASHES:
        raise bad(f"more than {MAX_PREFIX_SLASHES} '/' characters")
    if not _host_in_zone(host.lower(), zone_hosts):
        raise ApiError(400, 1082, f"You can only purge prefixes for this zone: {prefix}")


def _parse_json(raw):
    def pairs(items):
        obj = {}
        for key, value in items:
            if key in obj:
                raise ValueError(f"duplicate member {key!r}")
            obj[key] = value
        return obj

    def constant(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(raw.decode("utf-8"), object_pairs_hook=pairs, parse_constant=constant)


def _validate_body(body, zone, account):
    """Applies the body rules. Returns (kind, items, mixed_files). Raises ApiError."""
    if not isinstance(body, dict):
        raise ApiError(400, 1012, ONE_OF_MESSAGE + "; the body must be a JSON object")
    unknown = sorted(set(body) - set(KINDS) - {"purge_everything"})
    if unknown:
        raise ApiError(400, 1012, f'{ONE_OF_MESSAGE}; unknown member "{unknown[0]}"')
    present = [k for k in KINDS if k in body]
    if "purge_everything" in body:
        if present:
            raise ApiError(400, 1092, 'Request cannot contain "purge_everything" and any of '
                                      '"files", "tags", "hosts" or "prefixes"')
        if body["purge_everything"] is not True:
            raise ApiError(400, 1013, "'purge_everything' must be true")
        return "purge_everything", [], False
    if not present:
        raise ApiError(400, 1012, ONE_OF_MESSAGE)
    if len(present) > 1:
        raise ApiError(400, 1012, f'{ONE_OF_MESSAGE}, not several: got {" and ".join(present)} '
                                  "(the fake rejects mixed kinds)")
    kind = present[0]
    items = body[kind]
    if not isinstance(items, list):
        raise ApiError(400, 1014, f"'{kind}' must be an array")
    if not items:
        raise ApiError(400, 1014, f"'{kind}' must be a non-empty array")
    cfg = account.cfg
    if kind == "files":
        if len(items) > cfg["max_urls"]:
            raise ApiError(400, 1094, f"Unable to purge more than {cfg['max_urls']} files in "
                                      f"one request (got {len(items)})")
        objects = [_check_file(entry, zone["hosts"]) for entry in items]
        return kind, items, any(objects) and not all(objects)
    limit = cfg["max_ops"]
    if len(items) > limit:
        code = {"tags": 1101, "hosts": 1111, "prefixes": 1121}[kind]
        raise ApiError(400, code, f"Unable to purge more than {limit} {kind} in one request "
                                  f"(got {len(items)})")
    for item in items:
        if kind == "tags":
            _check_tag(item)
        elif kind == "hosts":
            _check_host(item, zone["hosts"])
        else:
            _check_prefix(item, zone["hosts"])
    return kind, items, False


# --------------------------------------------------------------------------------------------
# Config


def _number(where, value, *, integer=False, positive=True, allow_zero=False):
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or (isinstance(value, float) and
                                                  not math.isfinite(value)):
        raise ConfigError(f"{where}: must be {'an integer' if integer else 'a number'}")
    if positive and (value < 0 or (value == 0 and not allow_zero)):
        raise ConfigError(f"{where}: must be {'>= 0' if allow_zero else '> 0'}")
    return value


ACCOUNT_KEYS = ("name", "token", "plan", "rate", "burst", "urls_per_second", "url_burst",
                "max_ops", "max_urls", "global_requests", "global_window_s", "id",
                "account_token")
ACCOUNT_ID_RE = re.compile(r"[0-9a-f]{32}")
ACCOUNT_NUMBERS = {"rate": False, "burst": False, "urls_per_second": False, "url_burst": False,
                   "max_ops": True, "max_urls": True, "global_window_s": False}


def _account_config(raw, where, base=None):
    """Builds an account config from raw keys on top of base (or the plan defaults)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be an object")
    for key in raw:
        if key not in ACCOUNT_KEYS:
            raise ConfigError(f"{where}.{key}: unknown key")
    if base is None:
        plan = raw.get("plan", DEFAULT_PLAN)
        if plan not in PLANS:
            raise ConfigError(f"{where}.plan: unknown plan {plan!r} (one of {', '.join(PLANS)})")
        cfg = dict(PLANS[plan], plan=plan, name=None, token=None, url_burst=None,
                   global_requests=None, global_window_s=DEFAULT_GLOBAL_WINDOW_S, id=None,
                   account_token=False)
    else:
        cfg = dict(base)
        if "plan" in raw:
            if raw["plan"] not in PLANS:
                raise ConfigError(f"{where}.plan: unknown plan {raw['plan']!r}")
            cfg.update(PLANS[raw["plan"]], plan=raw["plan"])
    for key, value in raw.items():
        if key in ACCOUNT_NUMBERS:
            cfg[key] = _number(f"{where}.{key}", value, integer=ACCOUNT_NUMBERS[key])
        elif key == "global_requests":
            cfg[key] = None if value is None else _number(f"{where}.{key}", value, integer=True)
        elif key in ("name", "token"):
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{where}.{key}: must be a non-empty string")
            if key == "token" and not BEARER_RE.fullmatch("Bearer " + value):
                raise ConfigError(f"{where}.token: must be printable ASCII without spaces")
            cfg[key] = value
        elif key == "id":
            if not isinstance(value, str) or not ACCOUNT_ID_RE.fullmatch(value):
                raise ConfigError(f"{where}.id: must be 32 lower-case hex characters")
            cfg[key] = value
        elif key == "account_token":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}.account_token: must be a boolean")
            cfg[key] = value
    if cfg.get("id") is None and cfg.get("name"):
        # Cloudflare's account ids are 32 hex characters; a stable one from the name.
        cfg["id"] = hashlib.md5(cfg["name"].encode()).hexdigest()
    if base is None and "url_burst" not in raw:
        cfg["url_burst"] = max(cfg["urls_per_second"], cfg["max_urls"])
    for key in ("name", "token"):
        if not cfg.get(key):
            raise ConfigError(f"{where}.{key}: required")
    if cfg["url_burst"] < cfg["max_urls"]:
        raise ConfigError(f"{where}.url_burst: {cfg['url_burst']} is less than max_urls "
                          f"{cfg['max_urls']}, so a full request could never pass")
    if cfg["burst"] < 1:
        raise ConfigError(f"{where}.burst: must be >= 1")
    return cfg


def _load_config(config):
    if not isinstance(config, dict):
        raise ConfigError("config: must be a JSON object")
    for key in config:
        if key not in ("accounts", "zones", "faults", "max_body_bytes", "reject_mixed_files"):
            raise ConfigError(f"{key}: unknown key")
    accounts = collections.OrderedDict()
    tokens = {}
    raw_accounts = config.get("accounts")
    if not isinstance(raw_accounts, list) or not raw_accounts:
        raise ConfigError("accounts: must be a non-empty array")
    for i, raw in enumerate(raw_accounts):
        cfg = _account_config(raw, f"accounts[{i}]")
        if cfg["name"] in accounts:
            raise ConfigError(f"accounts[{i}].name: duplicate account {cfg['name']!r}")
        if cfg["token"] in tokens:
            raise ConfigError(f"accounts[{i}].token: same token as account "
                              f"{tokens[cfg['token']]!r}")
        accounts[cfg["name"]] = cfg
        tokens[cfg["token"]] = cfg["name"]
    zones = collections.OrderedDict()
    raw_zones = config.get("zones")
    if not isinstance(raw_zones, list) or not raw_zones:
        raise ConfigError("zones: must be a non-empty array")
    for i, raw in enumerate(raw_zones):
        where = f"zones[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: must be an object")
        for key in raw:
            if key not in ("id", "name", "account", "hosts", "plan", "status"):
                raise ConfigError(f"{where}.{key}: unknown key")
        zone_id = raw.get("id")
        if not isinstance(zone_id, str) or not ZONE_ID_RE.fullmatch(zone_id):
            raise ConfigError(f"{where}.id: must be 32 lower-case hex characters")
        if zone_id in zones:
            raise ConfigError(f"{where}.id: duplicate zone id")
        name = raw.get("name")
        if not isinstance(name, str) or not _is_hostname(name.lower()):
            raise ConfigError(f"{where}.name: must be a hostname")
        if raw.get("account") not in accounts:
            raise ConfigError(f"{where}.account: unknown account {raw.get('account')!r}")
        hosts = raw.get("hosts", [name, "*." + name])
        if not isinstance(hosts, list) or not hosts:
            raise ConfigError(f"{where}.hosts: must be a non-empty array")
        patterns = []
        for j, pattern in enumerate(hosts):
            bare = pattern[2:] if isinstance(pattern, str) and pattern.startswith("*.") else pattern
            if not isinstance(bare, str) or not _is_hostname(bare.lower()):
                raise ConfigError(f"{where}.hosts[{j}]: must be a hostname or *.hostname")
            patterns.append(pattern.lower())
        plan = raw.get("plan")
        if plan is not None and plan not in PLANS:
            raise ConfigError(f"{where}.plan: unknown plan {plan!r} (one of {', '.join(PLANS)})")
        status = raw.get("status", "active")
        if status not in ("active", "pending", "moved"):
            raise ConfigError(f"{where}.status: must be active, pending or moved")
        # plan None: the account's plan (its pacing), as Cloudflare's limits follow it.
        zones[zone_id] = dict(id=zone_id, name=name.lower(), account=raw["account"],
                              hosts=patterns, plan=plan, status=status)
    max_body = config.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES)
    _number("max_body_bytes", max_body, integer=True)
    reject_mixed = config.get("reject_mixed_files", False)
    if not isinstance(reject_mixed, bool):
        raise ConfigError("reject_mixed_files: must be a boolean")
    faults = _faults_config(config.get("faults", {}), "faults")
    return accounts, tokens, zones, max_body, reject_mixed, faults


FAULT_KEYS = ("fail_rate", "kinds", "slow_seconds", "seed", "sequence", "refuse_items",
              "force_status", "pause_auth", "latency_seconds", "lookup_status")


def _faults_config(raw, where="faults"):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be an object")
    for key in raw:
        if key not in FAULT_KEYS:
            raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(FAULT_KEYS)})")
    out = dict(fail_rate=0.0, kinds=list(DEFAULT_FAULT_KINDS), slow_seconds=2.0, seed=0,
               sequence=[], refuse_items=[], force_status=None, pause_auth=[],
               latency_seconds=0.0, lookup_status=None)
    lookup_status = raw.get("lookup_status")
    if lookup_status is not None:
        lookup_status = _number(f"{where}.lookup_status", lookup_status, integer=True)
        if not 500 <= lookup_status <= 599:
            raise ConfigError(f"{where}.lookup_status: must be 500..599 or null")
    out["lookup_status"] = lookup_status
    rate = _number(f"{where}.fail_rate", raw.get("fail_rate", 0.0), allow_zero=True)
    if rate > 1:
        raise ConfigError(f"{where}.fail_rate: must be between 0 and 1")
    out["fail_rate"] = float(rate)
    kinds = raw.get("kinds", DEFAULT_FAULT_KINDS)
    as_list = isinstance(kinds, list)
    if as_list:
        kinds = {k: 1 for k in kinds} if kinds else None
    if not isinstance(kinds, dict) or not kinds:
        raise ConfigError(f"{where}.kinds: must be a non-empty array of fault kinds or an "
                          "object of kind -> weight")
    for kind, weight in kinds.items():
        if kind not in FAULT_KINDS:
            raise ConfigError(f"{where}.kinds: unknown fault kind {kind!r} "
                              f"(known: {', '.join(FAULT_KINDS)})")
        _number(f"{where}.kinds.{kind}", weight)
    out["kinds"] = list(kinds) if as_list else dict(kinds)
    out["slow_seconds"] = float(_number(f"{where}.slow_seconds",
                                        raw.get("slow_seconds", 2.0), allow_zero=True))
    out["latency_seconds"] = float(_number(f"{where}.latency_seconds",
                                           raw.get("latency_seconds", 0.0), allow_zero=True))
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, (int, str)):
        raise ConfigError(f"{where}.seed: must be an integer or string")
    out["seed"] = seed
    sequence = raw.get("sequence", [])
    if not isinstance(sequence, list) or any(s is not None and s not in FAULT_KINDS
                                             for s in sequence):
        raise ConfigError(f"{where}.sequence: must be an array of fault kinds or nulls")
    out["sequence"] = list(sequence)
    for key in ("refuse_items", "pause_auth"):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}.{key}: must be an array of strings")
        out[key] = list(value)
    forced = raw.get("force_status")
    if forced is not None:
        if not isinstance(forced, dict):
            raise ConfigError(f"{where}.force_status: must be an object or null")
        for key in forced:
            if key not in ("status", "count", "code", "message", "accounts", "retry_after"):
                raise ConfigError(f"{where}.force_status.{key}: unknown key")
        status = _number(f"{where}.force_status.status", forced.get("status"), integer=True)
        if not 400 <= status <= 599:
            raise ConfigError(f"{where}.force_status.status: must be 400..599")
        default_code, default_message = FORCED_DEFAULTS.get(
            status, (10001, f"Forced HTTP {status} (injected by the fake)"))
        count = forced.get("count", 1)
        if count is not None:
            count = _number(f"{where}.force_status.count", count, integer=True)
        accounts = forced.get("accounts")
        if accounts is not None and (not isinstance(accounts, list) or
                                     not all(isinstance(a, str) for a in accounts)):
            raise ConfigError(f"{where}.force_status.accounts: must be an array of names")
        message = forced.get("message", default_message)
        if not isinstance(message, str):
            raise ConfigError(f"{where}.force_status.message: must be a string")
        out["force_status"] = dict(
            status=status, count=count,
            code=_number(f"{where}.force_status.code", forced.get("code", default_code),
                         integer=True),
            message=message, accounts=accounts,
            retry_after=_number(f"{where}.force_status.retry_after",
                                forced.get("retry_after", 1), integer=True, allow_zero=True))
    return out


# --------------------------------------------------------------------------------------------
# Rate limiting


class _Bucket:
    """Cloudflare's token bucket: holds up to `capacity`, refills at `rate` per second."""

    def __init__(self, rate, capacity, now):
        self.rate = float(rate)
        self.capacity = float(capacity)
        self.tokens = float(capacity)
        self.last = now

    def refill(self, now):
        if now > self.last:
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now

    def wait(self, cost, now):
        """Seconds until `cost` tokens are available (0 if they are now)."""
        self.refill(now)
        if self.tokens + 1e-9 >= cost:
            return 0.0
        return (cost - self.tokens) / self.rate

    def reconfigure(self, rate, capacity, now):
        self.refill(now)
        self.rate = float(rate)
        self.capacity = float(capacity)
        self.tokens = min(self.tokens, self.capacity)


class _Account:
    def __init__(self, cfg, now):
        self.cfg = cfg
        self.flex = _Bucket(cfg["rate"], cfg["burst"], now)
        self.urls = _Bucket(cfg["urls_per_second"], cfg["url_burst"], now)
        self.window = collections.deque()

    def refill_all(self, now):
        self.flex = _Bucket(self.cfg["rate"], self.cfg["burst"], now)
        self.urls = _Bucket(self.cfg["urls_per_second"], self.cfg["url_burst"], now)
        self.window.clear()

    def global_wait(self, now):
        limit = self.cfg["global_requests"]
        if limit is None:
            return 0.0
        span = self.cfg["global_window_s"]
        while self.window and self.window[0] <= now - span:
            self.window.popleft()
        if len(self.window) < limit:
            return 0.0
        return self.window[len(self.window) - limit] + span - now

    def state(self, now):
        self.flex.refill(now)
        self.urls.refill(now)
        self.global_wait(now)
        out = dict(self.cfg)
        out.update(flex_tokens=self.flex.tokens, url_tokens=self.urls.tokens,
                   global_used=len(self.window))
        return out


# --------------------------------------------------------------------------------------------
# The server


class _Decision:
    def __init__(self, entry):
        self.entry = entry
        self.status = None
        self.body = b""
        self.content_type = "application/json"
        self.headers = []
        self.apply = None      # (zone_id, [keys]) to record as purged at commit
        self.drop = False
        self.delay = 0.0
        self.close = False


def _envelope(errors):
    return json.dumps({"success": False, "errors": errors, "messages": [], "result": None})


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudflare"
    sys_version = ""
    timeout = 300  # idle keep-alive connections are closed after this

    def version_string(self):
        return self.server_version

    # -- plumbing --------------------------------------------------------------------------

    def setup(self):
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, False)

    def log_message(self, fmt, *args):  # noqa: A003 - BaseHTTPRequestHandler's name
        if self.server.fake.verbose:
            sys.stderr.write("fake_cloudflare: %s %s\n" % (self.address_string(), fmt % args))

    def handle_expect_100(self):
        # Answer an oversized body with 413 rather than inviting the client to send it.
        length = self.headers.get("Content-Length", "")
        if length.strip().isdigit() and int(length) > self.server.fake.max_body_bytes:
            self._expect_refused = True
            return True
        return super().handle_expect_100()

    def _discard(self, length, cap=64 << 20):
        """Reads and drops an unwanted body, so that the client can finish sending it and read
        our answer instead of failing on a reset connection."""
        if length > cap or getattr(self, "_expect_refused", False):
            return
        try:
            self.connection.settimeout(5)
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 16))
                if not chunk:
                    return
                length -= len(chunk)
        except OSError:
            pass

    def send_error(self, code, message=None, explain=None):
        """Protocol-level errors (bad request line, unsupported method) as a JSON envelope."""
        text = message or self.responses.get(code, ("Error",))[0]
        body = _envelope([{"code": 10001 if code >= 500 else 1012, "message": text}])
        self.close_connection = True
        try:
            self._send(code, body.encode(), "application/json", [("Connection", "close")])
        except OSError:
            pass

    def _send(self, status, body, content_type, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection and not any(n.lower() == "connection" for n, _ in headers):
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status, obj, headers=()):
        self._send(status, json.dumps(obj).encode(), "application/json", headers)

    def _abort(self):
        """Close the connection without answering."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _read_body(self):
        """The request body (Content-Length or chunked). Raises ApiError for framing problems and
        oversized bodies (after which the connection is closed)."""
        limit = self.server.fake.max_body_bytes
        encodings = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        if encodings:
            if ",".join(encodings).strip().lower() != "chunked" or lengths:
                self.close_connection = True
                raise ApiError(400, 1012, "Unsupported Transfer-Encoding", close=True)
            return self._read_chunked(limit)
        if not lengths:
            return b""
        if len(set(v.strip() for v in lengths)) != 1 or not lengths[0].strip().isdigit():
            self.close_connection = True
            raise ApiError(400, 1012, "Invalid Content-Length", close=True)
        length = int(lengths[0])
        if length > limit:
            self.close_connection = True
            self._discard(length)
            raise ApiError(413, 1012, f"Request body is larger than {limit} bytes", close=True)
        data = self.rfile.read(length)
        if len(data) != length:
            raise ConnectionError("short body")
        return data

    def _read_chunked(self, limit):
        data = bytearray()
        while True:
            line = self.rfile.readline(1026)
            if not line.endswith(b"\n"):
                raise ConnectionError("bad chunk header")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise ApiError(400, 1012, "Invalid chunked encoding", close=True) from None
            if size == 0:
                break
            if len(data) + size > limit:
                self.close_connection = True
                raise ApiError(413, 1012, f"Request body is larger than {limit} bytes",
                               close=True)
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise ConnectionError("short chunk")
            data += chunk
        while True:  # trailers
            line = self.rfile.readline(8194)
            if line in (b"\r\n", b"\n", b""):
                break
        return bytes(data)

    # -- routing ---------------------------------------------------------------------------

    def _route(self):
        split = urlsplit(self.path)
        path = split.path
        if path == "/_fake" or path.startswith("/_fake/"):
            self._control(path, split.query)
        else:
            self._api(path, split.query)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _route

    def _api(self, path, query=""):
        fake = self.server.fake
        received = time.monotonic()
        body = body_error = None
        try:
            body = self._read_body()
        except ApiError as error:
            body_error = error
        except (OSError, ConnectionError, ValueError):
            self.close_connection = True
            return
        fake._enter()
        try:
            try:
                decision = fake._evaluate(self.command, path, self.headers, body, body_error,
                                          received, query)
            except Exception as error:  # a bug in the fake: say so loudly, answer 500
                traceback.print_exc()
                decision = fake._internal_error(self.command, path, received, error)
            if decision.delay > 0:
                time.sleep(decision.delay)
            fake._commit(decision)
            if decision.drop or fake._stopping:
                self._abort()
                return
            if decision.close:
                self.close_connection = True
            self._send(decision.status, decision.body, decision.content_type, decision.headers)
        finally:
            fake._leave()

    # -- control API -----------------------------------------------------------------------

    def _control(self, path, query):
        fake = self.server.fake
        try:
            raw = self._read_body()
        except ApiError as error:
            self._send_json(error.status, {"error": error.message})
            return
        except (OSError, ConnectionError, ValueError):
            self.close_connection = True
            return
        params = parse_qs(query)
        method = self.command
        try:
            data = None
            if method == "POST":
                try:
                    data = _parse_json(raw) if raw.strip() else {}
                except ValueError as error:
                    raise ConfigError(f"invalid JSON: {error}") from None
            route = path.rstrip("/")
            if route == "/_fake/requests" and method in ("GET", "HEAD"):
                since = int(params.get("since", ["0"])[0])
                self._send_json(200, fake.requests(since))
            elif route == "/_fake/purged" and method in ("GET", "HEAD"):
                clock = params.get("clock", ["monotonic"])[0]
                self._send_json(200, fake.purged(clock))
            elif route == "/_fake/stats" and method in ("GET", "HEAD"):
                self._send_json(200, fake.stats())
            elif route == "/_fake/faults" and method in ("GET", "HEAD"):
                self._send_json(200, fake.faults())
            elif route == "/_fake/faults" and method == "POST":
                merge = params.get("merge", ["0"])[0] not in ("0", "", "false")
                self._send_json(200, fake.set_faults(data, merge=merge))
            elif route == "/_fake/reset" and method == "POST":
                fake.reset()
                self._send_json(200, {"ok": True})
            elif route == "/_fake/accounts" and method in ("GET", "HEAD"):
                self._send_json(200, fake.accounts())
            elif route.startswith("/_fake/accounts/") and method == "POST":
                name = route[len("/_fake/accounts/"):]
                self._send_json(200, fake.update_account(name, data))
            elif route == "/_fake/health" and method in ("GET", "HEAD"):
                self._send_json(200, {"ok": True})
            elif route in ("/_fake/requests", "/_fake/purged", "/_fake/stats", "/_fake/faults",
                           "/_fake/reset", "/_fake/accounts", "/_fake/health") or \
                    route.startswith("/_fake/accounts/"):
                self._send_json(405, {"error": f"{method} not allowed on {route}"})
            else:
                self._send_json(404, {"error": f"unknown control path {path}"})
        except KeyError as error:
            self._send_json(404, {"error": str(error.args[0])})
        except (ConfigError, ValueError) as error:
            self._send_json(400, {"error": str(error)})


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if self.fake.verbose:
            super().handle_error(request, client_address)


class FakeCloudflare:
    """The fake API. `FakeCloudflare(config).start()` returns the port; `.stop()` ends it.

    All state is guarded by one lock. Times are time.monotonic() (system-wide on Linux, so they
    compare with a test process's own time.monotonic()); log entries also carry time.time().
    """

    def __init__(self, config, verbose=False):
        (accounts, self._tokens, self._zones, self.max_body_bytes, self._reject_mixed,
         faults) = _load_config(config)
        now = time.monotonic()
        self._accounts = collections.OrderedDict(
            (name, _Account(cfg, now)) for name, cfg in accounts.items())
        self.verbose = verbose
        self._lock = threading.Lock()
        self._faults = faults
        self._rng = random.Random(faults["seed"])
        self._log = []
        self._seq = 0
        self._purged = {zone_id: {} for zone_id in self._zones}
        self._in_flight = 0
        self._max_in_flight = 0
        self._connections = set()
        self._server = None
        self._thread = None
        self._stopping = False
        self.port = None

    @classmethod
    def from_file(cls, path, verbose=False):
        with open(path, encoding="utf-8") as f:
            try:
                config = json.load(f)
            except ValueError as error:
                raise ConfigError(f"{path}: invalid JSON: {error}") from None
        return cls(config, verbose=verbose)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, port=None, host="127.0.0.1"):
        """Starts serving on host:port (default: the previous port if restarted, else an
        ephemeral one) in a background thread. Returns the port."""
        if self._server is not None:
            raise RuntimeError("already started")
        if port is None:
            port = self.port or 0
        self._stopping = False
        server = _Server((host, port), _Handler)
        server.fake = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="fake-cloudflare", daemon=True)
        self._thread.start()
        return self.port

    def stop(self):
        """Stops listening and closes every open connection. State is kept, so start() may be
        called again (on the same port) to simulate an outage."""
        server = self._server
        if server is None:
            return
        self._stopping = True
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _track(self, conn, add):
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _enter(self):
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _leave(self):
        with self._lock:
            self._in_flight -= 1

    # -- request evaluation ----------------------------------------------------------------

    def _evaluate(self, method, path, headers, body, body_error, received, query=""):
        entry = dict(seq=None, time=None, received=received, wall=None, method=method, path=path,
                     zone_id=None, account=None, kind=None, items=[], count=0, status=None,
                     error_code=None, message=None, mixed_files=False, duplicates=0, fault=None,
                     violation=False, rate_limited=None, retry_after=None)
        decision = _Decision(entry)
        with self._lock:
            try:
                if PURGE_PATH_RE.fullmatch(path):
                    self._evaluate_locked(decision, method, path, headers, body, body_error)
                else:
                    self._lookup_locked(decision, method, path, query, headers)
            except ApiError as error:
                decision.status = error.status
                decision.body = _envelope(error.errors).encode()
                decision.headers = list(error.headers)
                decision.close = error.close
                decision.apply = None
                entry.update(status=error.status, error_code=error.code, message=error.message,
                             violation=error.violation, rate_limited=error.rate_limited,
                             retry_after=error.retry_after)
                if error.fault:
                    entry["fault"] = error.fault
            decision.delay += self._faults["latency_seconds"]
        return decision

    def _evaluate_locked(self, decision, method, path, headers, body, body_error):
        entry = decision.entry
        match = PURGE_PATH_RE.fullmatch(path)
        if not match:
            raise ApiError(404, 7000, "No route for that URI")
        zone_id = match.group(1)
        entry["zone_id"] = zone_id
        if method != "POST":
            raise ApiError(405, 7001, "Method not allowed", headers=[("Allow", "POST")])
        zone = self._zones.get(zone_id)
        if zone is None:
            raise ApiError(404, 7003, f"Could not route to /zones/{zone_id}/purge_cache, perhaps "
                                      "your object identifier is invalid?",
                           more=[(7000, "No route for that URI")],
                           violation=not ZONE_ID_RE.fullmatch(zone_id))
        account = self._accounts[zone["account"]]
        entry["account"] = account.cfg["name"]
        if body_error is not None:
            raise body_error

        # Authentication.
        auth = headers.get("Authorization")
        if auth is None:
            if headers.get("X-Auth-Key") is not None or headers.get("X-Auth-Email") is not None:
                raise ApiError(403, 9103, "Unknown X-Auth-Key or X-Auth-Email (the fake accepts "
                                          "only API tokens)")
            raise ApiError(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
        bearer = BEARER_RE.fullmatch(auth)
        if not bearer:
            raise ApiError(400, 6003, "Invalid request headers",
                           chain=[(6111, "Invalid format for Authorization header")])
        owner = self._tokens.get(bearer.group(1))
        if owner is None:
            raise ApiError(403, 9109, "Unauthorized to access requested resource",
                           violation=False)
        if owner != account.cfg["name"]:
            raise ApiError(403, 10000, "Authentication error", violation=False)
        faults = self._faults
        if account.cfg["name"] in faults["pause_auth"]:
            raise ApiError(403, 10000, "Authentication error", violation=False,
                           fault="pause_auth")
        forced = faults["force_status"]
        if forced and (forced["accounts"] is None or account.cfg["name"] in forced["accounts"]):
            if forced["count"] is not None:
                forced["count"] -= 1
                if forced["count"] <= 0:
                    faults["force_status"] = None
            extra = []
            if forced["status"] == 429:
                extra = [("Retry-After", str(forced["retry_after"]))]
            raise ApiError(forced["status"], forced["code"],
                           forced["message"].replace("{zone}", zone_id), headers=extra,
                           violation=False, fault="force_status")

        # Content type and body.
        ctype = headers.get("Content-Type")
        media, _, params = (ctype or "").partition(";")
        charset = re.search(r"(?i)charset\s*=\s*\"?([^\";\s]+)", params)
        if media.strip().lower() != "application/json" or (
                charset and charset.group(1).lower() not in ("utf-8", "utf8")):
            raise ApiError(415, 6003, "Invalid request headers",
                           chain=[(6105, "Invalid Content-Type header, valid values are "
                                         "application/json")])
        try:
            parsed = _parse_json(body or b"")
        except (ValueError, UnicodeDecodeError) as error:
            raise ApiError(400, 1012, f"Malformed JSON in request body: {error}") from None
        if isinstance(parsed, dict):
            kinds = [k for k in KINDS + ("purge_everything",) if k in parsed]
            if len(kinds) == 1:
                entry["kind"] = kinds[0]
                value = parsed[kinds[0]]
                entry["items"] = value if isinstance(value, list) else []
                entry["count"] = len(entry["items"])
        kind, items, mixed = _validate_body(parsed, self._zones[zone_id], account)
        entry.update(kind=kind, items=items, count=len(items), mixed_files=mixed)
        if mixed and self._reject_mixed:
            raise ApiError(400, 1012, "The fake is configured to reject files arrays that mix "
                                      "strings and objects")
        keys = [purge_key(kind, item) for item in items] or [purge_key(kind)]
        entry["duplicates"] = len(keys) - len(set(keys))

        # Poison items.
        refuse = faults["refuse_items"]
        if refuse:
            refused = []
            for item in items:
                text = item["url"] if isinstance(item, dict) else item
                if kind in ("tags", "hosts"):
                    hit = any(text.lower() == r.lower() for r in refuse)
                else:
                    hit = text in refuse
                if hit:
                    refused.append(text)
            if refused:
                errors = [(1015, f"Unable to purge {t}, which is an invalid URL." if
                           kind == "files" else f"Unable to purge {t}.") for t in refused]
                raise ApiError(400, errors[0][0], errors[0][1], more=errors[1:],
                               violation=False, fault="refuse_items")

        # Rate limits: every applicable limit must pass; only then is anything consumed.
        now = time.monotonic()
        bucket, cost = (account.urls, len(items)) if kind == "files" else (account.flex, 1)
        waits = {"urls" if kind == "files" else "flex": bucket.wait(cost, now),
                 "global": account.global_wait(now)}
        limited = [name for name, wait in waits.items() if wait > 0]
        if limited:
            retry_after = max(1, math.ceil(max(waits.values()) - 1e-9))
            raise ApiError(429, 1134, RATE_LIMIT_MESSAGE, violation=False,
                           headers=[("Retry-After", str(retry_after))],
                           rate_limited=limited[0], retry_after=retry_after)
        bucket.tokens -= cost
        if account.cfg["global_requests"] is not None:
            account.window.append(now)

        # Faults on an otherwise valid request.
        fault = None
        if faults["sequence"]:
            fault = faults["sequence"].pop(0)
        elif faults["fail_rate"] > 0 and self._rng.random() < faults["fail_rate"]:
            kinds = faults["kinds"]
            if isinstance(kinds, dict):
                names = list(kinds)
                fault = self._rng.choices(names, weights=[kinds[n] for n in names])[0]
            else:
                fault = self._rng.choice(kinds)
        entry["fault"] = fault
        success = json.dumps({"success": True, "errors": [], "messages": [],
                              "result": {"id": zone_id}}).encode()
        decision.status, decision.body = 200, success
        decision.apply = (zone_id, keys)
        if fault == "500":
            decision.apply = None
            decision.status = 500
            decision.body = _envelope([{"code": 10001, "message": "Internal server error "
                                                                  "(injected by the fake)"}]).encode()
        elif fault == "502_html":
            decision.apply = None
            decision.status = 502
            decision.body = HTML_502
            decision.content_type = "text/html"
        elif fault == "drop":
            decision.apply = None
            decision.drop = True
        elif fault == "lost_response":
            decision.drop = True
        elif fault == "slow":
            decision.delay += faults["slow_seconds"]
        entry["status"] = None if decision.drop else decision.status
        if decision.status == 500:
            entry["error_code"] = 10001

    # -- lookups: finding zones by name, checking tokens -------------------------------------

    def _lookup_locked(self, decision, method, path, query, headers):
        """GET /zones, /zones/{id}, /user/tokens/verify, /accounts/{id}/tokens/verify: Cloudflare's
        answers for an API token that may read its account's zones. Each counts in the account's
        global window, like every request of a token."""
        entry = decision.entry
        routes = ((ZONES_PATH_RE, "zone_list"), (ZONE_PATH_RE, "zone_get"),
                  (USER_VERIFY_RE, "token_verify"), (ACCOUNT_VERIFY_RE, "account_token_verify"))
        match = kind = None
        for regex, name in routes:
            match = regex.fullmatch(path)
            if match:
                kind = name
                break
        if not match:
            raise ApiError(404, 7000, "No route for that URI")
        entry["kind"] = kind
        if method != "GET":
            raise ApiError(405, 7001, "Method not allowed", headers=[("Allow", "GET")])
        status = self._faults["lookup_status"]
        if status is not None:
            entry["fault"] = "lookup_status"
            raise ApiError(status, 10001, f"HTTP {status} (lookups down, injected by the fake)",
                           violation=False, fault="lookup_status")
        auth = headers.get("Authorization")
        bearer = BEARER_RE.fullmatch(auth or "")
        if auth is None:
            raise ApiError(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
        if not bearer:
            raise ApiError(400, 6003, "Invalid request headers",
                           chain=[(6111, "Invalid format for Authorization header")])
        owner = self._tokens.get(bearer.group(1))
        if owner is None:
            raise ApiError(401, 1000, "Invalid API Token", violation=False)
        account = self._accounts[owner]
        entry["account"] = owner
        now = time.monotonic()
        wait = account.global_wait(now)
        if wait > 0:
            retry_after = max(1, math.ceil(wait - 1e-9))
            raise ApiError(429, 971, "Please wait and consider throttling your request speed",
                           violation=False, headers=[("Retry-After", str(retry_after))],
                           rate_limited="global", retry_after=retry_after)
        if account.cfg["global_requests"] is not None:
            account.window.append(now)
        if kind == "zone_list":
            result, info = self._zone_page(owner, parse_qs(query, keep_blank_values=True))
            self._answer(decision, result, result_info=info)
        elif kind == "zone_get":
            zone_id = match.group(1)
            entry["zone_id"] = zone_id
            if not ZONE_ID_RE.fullmatch(zone_id):
                raise ApiError(404, 7003, f"Could not route to /zones/{zone_id}, perhaps your "
                                          "object identifier is invalid?",
                               more=[(7000, "No route for that URI")], violation=False)
            zone = self._zones.get(zone_id)
            if zone is None or zone["account"] != owner:
                raise ApiError(403, 9109, "Unauthorized to access requested resource",
                               violation=False)
            self._answer(decision, self._zone_object(zone))
        else:
            # An account-owned token is valid only under its account's route, a user's token
            # only under /user.
            wanted_account = kind == "account_token_verify"
            if account.cfg["account_token"] != wanted_account or (
                    wanted_account and match.group(1) != account.cfg["id"]):
                raise ApiError(401, 1000, "Invalid API Token", violation=False)
            token_id = hashlib.md5(bearer.group(1).encode()).hexdigest()
            self._answer(decision, {"id": token_id, "status": "active"},
                         messages=[{"code": 10000,
                                    "message": "This API Token is valid and active"}])

    def _zone_object(self, zone):
        account = self._accounts[zone["account"]]
        plan = zone["plan"] or account.cfg["plan"]
        names = {"free": "Free Website", "pro": "Pro Website", "business": "Business Website",
                 "enterprise": "Enterprise Website"}
        return {"id": zone["id"], "name": zone["name"], "status": zone["status"],
                "paused": False, "type": "full",
                "account": {"id": account.cfg["id"], "name": account.cfg["name"]},
                "plan": {"id": hashlib.md5(plan.encode()).hexdigest(), "name": names[plan],
                         "legacy_id": plan, "is_subscribed": plan != "free",
                         "can_subscribe": False, "legacy_discount": False,
                         "externally_managed": False, "price": 0, "currency": "USD",
                         "frequency": ""}}

    def _zone_page(self, owner, params):
        for key in params:
            if key not in ("name", "page", "per_page", "status", "order", "direction", "match"):
                raise ApiError(400, 1001, f"Unknown query parameter {key}", violation=True)
        def integer(key, default, low, high):
            values = params.get(key)
            if not values:
                return default
            try:
                value = int(values[-1])
            except ValueError:
                raise ApiError(400, 1001, f"{key} must be an integer", violation=True) from None
            if not low <= value <= high:
                raise ApiError(400, 1001, f"{key} must be between {low} and {high}",
                               violation=True)
            return value
        page = integer("page", 1, 1, 1 << 31)
        per_page = integer("per_page", 20, 5, 50)
        name = params.get("name", [None])[-1]
        zones = [z for z in self._zones.values() if z["account"] == owner and
                 (name is None or z["name"] == name.lower())]
        total = len(zones)
        chunk = zones[(page - 1) * per_page:page * per_page]
        info = {"page": page, "per_page": per_page, "count": len(chunk), "total_count": total,
                "total_pages": max(1, math.ceil(total / per_page))}
        return [self._zone_object(z) for z in chunk], info

    @staticmethod
    def _answer(decision, result, result_info=None, messages=()):
        body = {"success": True, "errors": [], "messages": list(messages), "result": result}
        if result_info is not None:
            body["result_info"] = result_info
        decision.status = 200
        decision.body = json.dumps(body).encode()
        decision.entry["status"] = 200

    def _internal_error(self, method, path, received, error):
        entry = dict(seq=None, time=None, received=received, wall=None, method=method, path=path,
                     zone_id=None, account=None, kind=None, items=[], count=0, status=500,
                     error_code=10001, message=f"fake_cloudflare bug: {error!r}",
                     mixed_files=False, duplicates=0, fault="internal_error", violation=False,
                     rate_limited=None, retry_after=None)
        decision = _Decision(entry)
        decision.status = 500
        decision.body = _envelope([{"code": 10001, "message": entry["message"]}]).encode()
        return decision

    def _commit(self, decision):
        with self._lock:
            entry = decision.entry
            now = time.monotonic()
            wall = time.time()
            if decision.apply is not None:
                zone_id, keys = decision.apply
                purged = self._purged.setdefault(zone_id, {})
                for key in keys:
                    purged.setdefault(key, []).append((now, wall))
            self._seq += 1
            entry.update(seq=self._seq, time=now, wall=wall, purged=decision.apply is not None)
            self._log.append(entry)
            if self.verbose:
                sys.stderr.write(
                    "fake_cloudflare: #%d %s %s zone=%s kind=%s n=%d -> %s%s%s\n" % (
                        entry["seq"], entry["method"], entry["path"], entry["zone_id"],
                        entry["kind"], entry["count"], entry["status"],
                        " code=%s" % entry["error_code"] if entry["error_code"] else "",
                        " fault=%s" % entry["fault"] if entry["fault"] else ""))

    # -- inspection and control (also served under /_fake/) --------------------------------

    def requests(self, since=0):
        """The request log: entries with seq > since, oldest first (copies)."""
        with self._lock:
            return [dict(e) for e in self._log if e["seq"] > since]

    def purged(self, clock="monotonic"):
        """{zone_id: {purge key: [time, ...]}} for accepted requests; clock "monotonic" or
        "wall"."""
        if clock not in ("monotonic", "wall"):
            raise ValueError('clock must be "monotonic" or "wall"')
        index = 0 if clock == "monotonic" else 1
        with self._lock:
            return {zone: {key: [t[index] for t in times] for key, times in items.items()}
                    for zone, items in self._purged.items()}

    def stats(self):
        with self._lock:
            log = list(self._log)
            accounts = {name: a.state(time.monotonic()) for name, a in self._accounts.items()}
            in_flight, max_in_flight = self._in_flight, self._max_in_flight
            purged_keys = sum(len(v) for v in self._purged.values())
        by_status = collections.Counter()
        faults = collections.Counter()
        limited_by = collections.Counter()
        by_code = collections.Counter()
        accepted_by_kind = collections.Counter()
        per_account = {name: collections.Counter() for name in accounts}
        violations = []
        stats = dict(requests=len(log), accepted=0, rate_limited=0, mixed_files=0,
                     contract_violations=0, duplicates=0)
        for e in log:
            by_status["none" if e["status"] is None else str(e["status"])] += 1
            if e["error_code"] is not None:
                by_code[str(e["error_code"])] += 1
            if e["fault"]:
                faults[e["fault"]] += 1
            if e["rate_limited"]:
                stats["rate_limited"] += 1
                limited_by[e["rate_limited"]] += 1
            if e["mixed_files"]:
                stats["mixed_files"] += 1
            if e["purged"]:
                stats["accepted"] += 1
                stats["duplicates"] += e["duplicates"]
                accepted_by_kind[e["kind"]] += 1
            if e["violation"]:
                stats["contract_violations"] += 1
                if len(violations) < 100:
                    violations.append({k: e[k] for k in ("seq", "status", "error_code", "message",
                                                         "zone_id", "kind", "path")})
            counter = per_account.get(e["account"])
            if counter is not None:
                counter["requests"] += 1
                counter["accepted"] += bool(e["purged"])
                counter["rate_limited"] += bool(e["rate_limited"])
        stats.update(
            by_status=dict(by_status), by_error_code=dict(by_code), faults=dict(faults),
            rate_limited_by=dict(limited_by), accepted_by_kind=dict(accepted_by_kind),
            violations=violations, purged_keys=purged_keys, in_flight=in_flight,
            max_in_flight=max_in_flight,
            accounts={name: dict(requests=per_account[name]["requests"],
                                 accepted=per_account[name]["accepted"],
                                 rate_limited=per_account[name]["rate_limited"],
                                 flex_tokens=state["flex_tokens"],
                                 url_tokens=state["url_tokens"],
                                 global_used=state["global_used"])
                      for name, state in accounts.items()})
        return stats

    def faults(self):
        with self._lock:
            return json.loads(json.dumps(self._faults))

    def set_faults(self, faults, merge=False):
        """Replaces the fault settings (or, with merge, updates only the given keys).
        Re-seeds the random generator. Returns the new settings."""
        if faults is None:
            faults = {}
        if not isinstance(faults, dict):
            raise ConfigError("faults: must be an object")
        with self._lock:
            if merge:
                current = {k: v for k, v in self._faults.items()}
                current.update(faults)
                faults = current
            new = _faults_config(faults)
            self._faults = new
            self._rng = random.Random(new["seed"])
            return json.loads(json.dumps(new))

    def reset(self):
        """Clears the request log, purged items and counters, refills every bucket and
        re-seeds the fault generator. Fault settings stay; seq numbers keep increasing."""
        with self._lock:
            now = time.monotonic()
            self._log.clear()
            self._purged = {zone_id: {} for zone_id in self._zones}
            for account in self._accounts.values():
                account.refill_all(now)
            self._rng = random.Random(self._faults["seed"])
            self._max_in_flight = self._in_flight

    def accounts(self):
        with self._lock:
            now = time.monotonic()
            return {name: a.state(now) for name, a in self._accounts.items()}

    def update_account(self, name, changes):
        """Updates an account's limits (any account key but name) at runtime. Extra keys:
        flex_tokens / url_tokens set the buckets' current level, refill: true fills both."""
        if not isinstance(changes, dict):
            raise ConfigError("account update: must be an object")
        with self._lock:
            account = self._accounts.get(name)
            if account is None:
                raise KeyError(f"unknown account {name!r}")
            changes = dict(changes)
            levels = {k: changes.pop(k) for k in ("flex_tokens", "url_tokens", "refill")
                      if k in changes}
            if "name" in changes:
                raise ConfigError("name: cannot be changed")
            cfg = _account_config(changes, f"accounts.{name}", base=account.cfg)
            if "token" in changes:
                if changes["token"] in self._tokens and self._tokens[changes["token"]] != name:
                    raise ConfigError("token: used by another account")
                del self._tokens[account.cfg["token"]]
                self._tokens[cfg["token"]] = name
            now = time.monotonic()
            account.cfg = cfg
            account.flex.reconfigure(cfg["rate"], cfg["burst"], now)
            account.urls.reconfigure(cfg["urls_per_second"], cfg["url_burst"], now)
            if levels.get("refill"):
                account.flex.tokens = account.flex.capacity
                account.urls.tokens = account.urls.capacity
                account.window.clear()
            for key, bucket in (("flex_tokens", account.flex), ("url_tokens", account.urls)):
                if key in levels:
                    level = _number(key, levels[key], allow_zero=True)
                    bucket.tokens = min(float(level), bucket.capacity)
            return account.state(now)


# --------------------------------------------------------------------------------------------
# Command line


def main(argv=None):
    parser = argparse.ArgumentParser(description="Strict fake of Cloudflare's purge_cache API.")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any)")
    parser.add_argument("--config", required=True, help="JSON config file")
    parser.add_argument("--port-file", help="write the chosen port here")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)
    try:
        fake = FakeCloudflare.from_file(args.config, verbose=args.verbose)
    except (OSError, ConfigError) as error:
        print(f"fake_cloudflare: {error}", file=sys.stderr)
        return 2
    port = fake.start(port=args.port)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    print(f"listening on 127.0.0.1:{port}", flush=True)
    done = threading.Event()

    def stop(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not done.wait(1.0):
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
