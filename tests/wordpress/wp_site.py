"""A throwaway WordPress site for tests, from Debian's `wordpress` package.

`Site` lays out a site directory once per test run: a copy of /usr/share/wordpress (so that
wp-load.php finds this site's wp-config.php rather than Debian's /etc/wordpress one), its own
wp-content with two minimal themes and the purgeq plugin linked from the worktree (as the Debian
package's docs say to install it), a wp-config.php that reads the database, table prefix and the
PURGEQ_* constants from the environment, and a router for PHP's built-in server.

`WordPress` is one installation in that site, under its own table prefix: each test gets a fresh
one. `php()` runs PHP code as one request through tests/wordpress/driver.php; `serve()` starts
PHP's built-in server for front-end and admin requests.
"""

import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
WORDPRESS = os.environ.get("PURGEQ_WORDPRESS", "/usr/share/wordpress")
PHP = os.environ.get("PURGEQ_PHP", "/usr/bin/php")
PLUGIN = os.path.join(ROOT, "integrations", "wordpress", "purgeq")
DRIVER = os.path.join(HERE, "driver.php")
HOST = "www.a.example"
HOME = f"https://{HOST}/"
MARK = "@@purgeq-driver@@"


WP_CONFIG = r"""<?php
// The test site's wp-config.php: everything that differs between tests comes from the
// environment (tests/wordpress/wp_site.py).
define('DB_NAME', getenv('PURGEQ_WP_DB'));
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', 'localhost:' . getenv('PURGEQ_WP_DB_SOCKET'));
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
$table_prefix = getenv('PURGEQ_WP_PREFIX') ?: 'wp_';
foreach (['AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY', 'AUTH_SALT',
          'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT'] as $key) {
    define($key, "purgeq-test-$key");
}
define('WP_HOME', 'https://www.a.example');
define('WP_SITEURL', 'https://www.a.example');
// Behind a TLS-terminating proxy, as Debian's wp-config.php handles it.
if (($_SERVER['HTTP_X_FORWARDED_PROTO'] ?? '') === 'https') {
    $_SERVER['HTTPS'] = 'on';
}
define('WP_DEBUG', true);
define('WP_DEBUG_LOG', getenv('PURGEQ_WP_LOG'));
define('WP_DEBUG_DISPLAY', false);
// No requests to wordpress.org, no cron on page loads, no updates.
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_AUTO_UPDATE_CORE', false);
// The plugin's settings, pinned the way docs/wordpress.md describes.
foreach (['PURGEQ_SOCKET', 'PURGEQ_URL', 'PURGEQ_TOKEN', 'PURGEQ_STRATEGY', 'PURGEQ_ZONE',
          'PURGEQ_LANE_SINGLE', 'PURGEQ_LANE_BULK'] as $constant) {
    if (getenv($constant) !== false) {
        define($constant, getenv($constant));
    }
}
if (!defined('ABSPATH')) {
    define('ABSPATH', __DIR__ . '/');
}
require_once ABSPATH . 'wp-settings.php';
"""

ROUTER = r"""<?php
// PHP's built-in server: files as they are, everything else to WordPress (pretty permalinks).
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if ($path !== '/' && file_exists(__DIR__ . $path)) {
    return false;
}
$_SERVER['SCRIPT_NAME'] = $_SERVER['PHP_SELF'] = '/index.php';
$_SERVER['SCRIPT_FILENAME'] = __DIR__ . '/index.php';
require __DIR__ . '/index.php';
"""

# Two classic themes: enough for switch_theme() and for pages that list posts.
THEME_INDEX = r"""<?php
// A minimal classic theme for purgeq's tests: the title and the posts the main query found.
?><!doctype html><html><head><title><?php wp_title(); ?></title><?php wp_head(); ?></head><body>
<?php while (have_posts()) : the_post(); ?><article><h2><?php the_title(); ?></h2><?php the_content(); ?></article><?php endwhile; ?>
<?php wp_footer(); ?></body></html>
"""


def require_wordpress():
    if not os.path.exists(os.path.join(WORDPRESS, "wp-settings.php")):
        raise unittest.SkipTest(f"WordPress not found in {WORDPRESS} (scripts/test-wordpress.sh "
                                "installs Debian's wordpress package)")
    if not os.path.exists(PHP):
        raise unittest.SkipTest(f"{PHP} not found (scripts/test-wordpress.sh installs php-cli)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Site:
    """The site directory, shared by every installation of a test run."""

    def __init__(self, db):
        require_wordpress()
        self.db = db
        self.dir = tempfile.mkdtemp(prefix="purgeq-wp-")
        self.root = os.path.join(self.dir, "site")
        # The CLI compiles WordPress afresh on every request unless opcache keeps it on disk.
        opcache = os.path.join(self.dir, "opcache")
        os.makedirs(opcache)
        self.php_options = ["-d", "display_errors=stderr", "-d", "opcache.enable_cli=1",
                            "-d", f"opcache.file_cache={opcache}", "-d", "opcache.file_cache_only=1"]
        shutil.copytree(WORDPRESS, self.root, symlinks=True,
                        ignore=lambda d, names: ["wp-content", "wp-config.php"]
                        if os.path.samefile(d, WORDPRESS) else [])
        content = os.path.join(self.root, "wp-content")
        for sub in ("plugins", "themes", "uploads"):
            os.makedirs(os.path.join(content, sub))
        os.symlink(PLUGIN, os.path.join(content, "plugins", "purgeq"))
        for name in ("purgeq-a", "purgeq-b"):
            theme = os.path.join(content, "themes", name)
            os.makedirs(theme)
            with open(os.path.join(theme, "style.css"), "w") as f:
                f.write(f"/*\nTheme Name: {name}\nDescription: purgeq test theme\n*/\n")
            with open(os.path.join(theme, "index.php"), "w") as f:
                f.write(THEME_INDEX)
        with open(os.path.join(self.root, "wp-config.php"), "w") as f:
            f.write(WP_CONFIG)
        with open(os.path.join(self.root, "router.php"), "w") as f:
            f.write(ROUTER)
        self.database = db.create_database("wordpress")
        self.installs = 0
        # wp_install() and activation once, under the template's prefix; each test's
        # installation is a copy of its tables (a fraction of a second, not seconds).
        started = time.monotonic()
        self.template = WordPress(self, "tpl_", {})
        self.template.php(r"""
            require_once ABSPATH . 'wp-admin/includes/upgrade.php';
            $installed = wp_install('purgeq test', 'admin', 'admin@a.example', true, '', 'admin-password');
            update_option('permalink_structure', '/%year%/%monthnum%/%postname%/');
            update_option('posts_per_page', 10);
            switch_theme('purgeq-a');
            wp_insert_user(['user_login' => 'editor', 'user_pass' => 'editor-password',
                            'user_email' => 'editor@a.example', 'role' => 'editor',
                            'display_name' => 'Editor']);
            // wp_install's sample content is not what the tests count on.
            foreach (get_posts(['post_type' => ['post', 'page'], 'post_status' => 'any', 'numberposts' => -1]) as $post) {
                wp_delete_post($post->ID, true);
            }
            return $installed['user_id'];
        """, mode="install", user=None)
        # Activation in a request of its own, as the Plugins screen does.
        self.template.php("""
            require_once ABSPATH . 'wp-admin/includes/plugin.php';
            $error = activate_plugin('purgeq/purgeq.php');
            return is_wp_error($error) ? $error->get_error_message() : 'active';
        """, user="admin", expect="active")
        self.install_s = time.monotonic() - started

    def new(self, test, constants):
        """A fresh installation for `test`: the template's tables under a new prefix."""
        self.installs += 1
        prefix = f"t{self.installs}_"
        tables = self.db.sql("SHOW TABLES LIKE 'tpl\\_%'", db=self.database).stdout.split()
        statements = []
        for table in tables:
            copy = prefix + table[len("tpl_"):]
            statements.append(f"CREATE TABLE `{copy}` LIKE `{table}`; INSERT INTO `{copy}` SELECT * FROM `{table}`;")
        # WordPress keys roles and capabilities by the table prefix.
        statements.append(f"UPDATE `{prefix}options` SET option_name = '{prefix}user_roles' "
                          "WHERE option_name = 'tpl_user_roles';")
        statements.append(f"UPDATE `{prefix}usermeta` SET meta_key = CONCAT('{prefix}', "
                          "SUBSTRING(meta_key, 5)) WHERE meta_key LIKE 'tpl\\_%';")
        self.db.sql(" ".join(statements), db=self.database)
        wordpress = WordPress(self, prefix, constants)
        test.addCleanup(wordpress.close)
        return wordpress

    def close(self):
        self.template.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class WordPress:
    """One installation (its own table prefix) with the plugin active."""

    def __init__(self, site, prefix, constants):
        self.site = site
        self.prefix = prefix
        self.log = os.path.join(site.dir, f"debug-{self.prefix}log")
        self.constants = dict(constants)
        self.server = None

    def env(self, **extra):
        env = dict(os.environ)
        for name in ("PURGEQ_SOCKET", "PURGEQ_URL", "PURGEQ_TOKEN", "PURGEQ_STRATEGY",
                     "PURGEQ_ZONE", "PURGEQ_LANE_SINGLE", "PURGEQ_LANE_BULK"):
            env.pop(name, None)
        env.update({
            "PURGEQ_WP_SITE": self.site.root,
            "PURGEQ_WP_DB": self.site.database,
            "PURGEQ_WP_DB_SOCKET": self.site.db.socket,
            "PURGEQ_WP_PREFIX": self.prefix,
            "PURGEQ_WP_LOG": self.log,
        })
        env.update(self.constants)
        env.update(extra)
        return env

    def php(self, code, user="editor", mode="run", expect=None, timeout=300, constants=None):
        """Runs `code` (PHP, returning a JSON-able value) as one request; returns the report."""
        env = self.env(**(constants or {}))
        if user:
            env["PURGEQ_WP_USER"] = user
        argv = [PHP, *self.site.php_options, DRIVER] + (["install"] if mode == "install" else [])
        result = subprocess.run(argv, input=code, capture_output=True, text=True, timeout=timeout,
                                env=env)
        lines = [line for line in result.stdout.splitlines() if line.startswith(MARK)]
        if result.returncode != 0 or not lines:
            raise AssertionError(f"driver exited {result.returncode}\nstdout:\n{result.stdout[-3000:]}"
                                 f"\nstderr:\n{result.stderr[-3000:]}\nlog:\n{self.debug_log()[-3000:]}")
        report = json.loads(lines[-1][len(MARK):])
        if report.get("error"):
            raise AssertionError(f"PHP: {report['error']}\nlog:\n{self.debug_log()[-3000:]}")
        if expect is not None and report["result"] != expect:
            raise AssertionError(f"PHP returned {report['result']!r}, want {expect!r}")
        return report

    def debug_log(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    # -- PHP's built-in server ------------------------------------------------------------------

    def serve(self):
        if self.server:
            return self.server_port
        self.server_port = free_port()
        self.server_log = open(os.path.join(self.site.dir, f"server-{self.prefix}log"), "w")
        self.server = subprocess.Popen(
            [PHP, *self.site.php_options, "-S", f"127.0.0.1:{self.server_port}", "-t", self.site.root,
             os.path.join(self.site.root, "router.php")],
            cwd=self.site.root, env=self.env(), stdout=self.server_log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.server_port), timeout=1):
                    return self.server_port
            except OSError:
                if self.server.poll() is not None:
                    break
                time.sleep(0.05)
        raise AssertionError(f"PHP's built-in server did not start on {self.server_port}")

    def request(self, method, path, body=None, cookies=None, headers=None):
        """One request through the built-in server, as a browser behind the TLS proxy sends it.
        Returns (status, headers as a dict of lower-case names, body text)."""
        self.serve()
        conn = http.client.HTTPConnection("127.0.0.1", self.server_port, timeout=60)
        try:
            hdrs = {"Host": HOST, "X-Forwarded-Proto": "https"}
            if cookies:
                hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
            if body is not None:
                hdrs["Content-Type"] = "application/x-www-form-urlencoded"
            hdrs.update(headers or {})
            conn.request(method, path, body=body, headers=hdrs)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            return response.status, {k.lower(): v for k, v in response.getheaders()}, text
        finally:
            conn.close()

    def login_cookies(self, login):
        """The cookies a browser holds after `login` signs in (a real session token)."""
        return self.php("""
            $user = get_user_by('login', %s);
            $expiration = time() + 3600;
            $token = WP_Session_Tokens::get_instance($user->ID)->create($expiration);
            return [SECURE_AUTH_COOKIE => wp_generate_auth_cookie($user->ID, $expiration, 'secure_auth', $token),
                    LOGGED_IN_COOKIE => wp_generate_auth_cookie($user->ID, $expiration, 'logged_in', $token)];
        """ % json.dumps(login), user=None)["result"]

    def close(self):
        if self.server and self.server.poll() is None:
            self.server.terminate()
            self.server.wait(timeout=10)
        if self.server:
            self.server_log.close()
