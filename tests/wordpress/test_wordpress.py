"""The WordPress plugin against real parts: WordPress from Debian's package on a throwaway MariaDB,
PHP 8.2's CLI and built-in server, a real purgeqd and the fake Cloudflare API. Edits go through
WordPress's own APIs; the assertions are on what reaches the fake.

Run: cd tests/wordpress && PURGEQD=../../build/purgeqd PURGEQ=../../build/purgeq \
     python3 -m unittest -v test_wordpress       (scripts/test-wordpress.sh does it all)
"""

import json
import math
import os
import re
import signal
import sys
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from harness import ZONE_A, ZONE_B, ZONE_C, DaemonFixture, FakeFixture  # noqa: E402
from mariadb import MariaDB  # noqa: E402
from wp_site import HOME, Site  # noqa: E402

DB = None
SITE = None

# a.example's purge-everything guard: one per minute, a second one refused (docs/delivery.md).
ZONES = [
    dict(name="a.example", id=ZONE_A, account="acct1",
         everything=dict(min_interval="60s", within="refuse")),
    dict(name="b.example", id=ZONE_B, account="acct1"),
    dict(name="c.example", id=ZONE_C, account="acct2"),
]


def setUpModule():
    global DB, SITE
    started = time.monotonic()
    DB = MariaDB()
    try:
        SITE = Site(DB)
    except BaseException:
        DB.close()
        raise
    print(f"\n[wordpress] MariaDB {DB.install_s:.1f} s to initialise, site and template install "
          f"{SITE.install_s:.1f} s, set-up {time.monotonic() - started:.1f} s", file=sys.stderr)


def tearDownModule():
    if SITE:
        SITE.close()
    if DB:
        DB.close()


def url(path):
    return HOME + path.lstrip("/")


class WordPressCase(unittest.TestCase):
    constants = {}

    def setUp(self):
        self.fake = FakeFixture(self)
        self.daemon = DaemonFixture(self, fake=self.fake, zones=ZONES)
        self.daemon.start()
        constants = {"PURGEQ_SOCKET": self.daemon.socket_path}
        constants.update(self.constants)
        self.wp = SITE.new(self, constants)
        self.mark = 0
        self.addCleanup(self.no_php_problems_in_the_plugin)

    def no_php_problems_in_the_plugin(self):
        # WordPress 6.1 itself logs deprecations on PHP 8.2; the plugin's files must log nothing.
        problems = [line for line in self.wp.debug_log().splitlines()
                    if re.search(r"PHP (Warning|Notice|Deprecated|Fatal error|Parse error)", line)
                    and "/purgeq/" in line]
        self.assertEqual(problems, [])

    # -- helpers ---------------------------------------------------------------------------------

    def php(self, code, user="editor", **kwargs):
        return self.wp.php(code, user=user, **kwargs)

    def one_intent(self, report, lane):
        """The request sent exactly one intent, in `lane`; waits until purgeqd finished it."""
        self.assertEqual([f["reason"] for f in report["failed"]], [], "the plugin reported a failure")
        self.assertEqual(len(report["sent"]), 1, f"want one intent, got {report['sent']}")
        sent = report["sent"][0]
        self.assertEqual(len(sent["ids"]), 1)
        self.assertEqual(sent["priority"], lane)
        state = self.daemon.wait_terminal(sent["ids"][0], timeout=60)
        self.assertEqual(state["status"], "done", state)
        return sent

    def take_purged(self):
        """What the fake accepted since the last call: (files, tags, everything count, requests)."""
        entries = [e for e in self.fake.requests() if e["seq"] > self.mark]
        if entries:
            self.mark = max(e["seq"] for e in entries)
        files, tags, everything = set(), set(), 0
        for entry in entries:
            self.assertEqual(entry["status"], 200, entry)
            self.assertEqual(entry["zone_id"], ZONE_A, entry)
            if entry["kind"] == "files":
                files.update(item if isinstance(item, str) else item["url"] for item in entry["items"])
            elif entry["kind"] == "tags":
                tags.update(entry["items"])
            elif entry["kind"] == "purge_everything":
                everything += 1
            elif entry["kind"] != "hosts":
                self.fail(f"unexpected kind: {entry}")
        return files, tags, everything, entries

    def settle(self):
        """Forget what the fake saw so far (after setting up content)."""
        deadline = time.monotonic() + 30
        while self.daemon.request("GET", "/v1/status")[1]["pending"] and time.monotonic() < deadline:
            time.sleep(0.05)
        self.take_purged()

    def make_terms(self):
        """Category Topics > News, category Other, tag launch: their term ids."""
        return self.php("""
            $topics = wp_insert_term('Topics', 'category')['term_id'];
            $news = wp_insert_term('News', 'category', ['parent' => $topics])['term_id'];
            $other = wp_insert_term('Other', 'category')['term_id'];
            $launch = wp_insert_term('launch', 'post_tag')['term_id'];
            return compact('topics', 'news', 'other', 'launch');
        """)["result"]

    def make_post(self, terms, **fields):
        args = dict(post_title="Hello purgeq", post_name="hello-purgeq", post_status="publish",
                    post_date="2024-03-05 10:00:00", post_content="One<!--nextpage-->Two",
                    post_category=[terms["news"]], tags_input=["launch"])
        args.update(fields)
        report = self.php(f"""
            $args = json_decode({json.dumps(json.dumps(args))}, true);
            $args['post_author'] = get_user_by('login', 'editor')->ID;
            return ['id' => wp_insert_post($args, true), 'author' => $args['post_author']];
        """)
        return report, report["result"]["id"], report["result"]["author"]

    @staticmethod
    def post_urls(path, terms_paths=("category/topics/news", "category/topics", "tag/launch"),
                  date=("2024", "03", "05"), pages=2):
        """The URL set of a published post at `path` by `editor` (docs/wordpress.md)."""
        urls = {url(path + "/"), url(path + "/feed/"), url("comments/feed/"), url(""), url("feed/"),
                url("author/editor/"), url("author/editor/feed/"), url(date[0] + "/"),
                url(f"{date[0]}/{date[1]}/"), url(f"{date[0]}/{date[1]}/{date[2]}/")}
        urls |= {url(f"{path}/{page}/") for page in range(2, pages + 1)}
        for term in terms_paths:
            urls |= {url(term + "/"), url(term + "/feed/")}
        return urls


class PostEvents(WordPressCase):
    def test_insert_post_purges_its_pages_listings_terms_author_and_dates(self):
        terms = self.make_terms()
        self.settle()
        report, post_id, author = self.make_post(terms)
        self.one_intent(report, "high")
        files, tags, everything, _ = self.take_purged()
        self.assertEqual(files, self.post_urls("2024/03/hello-purgeq"))
        self.assertEqual(tags, {f"post-{post_id}", f"term-{terms['news']}",
                                f"term-{terms['topics']}", f"term-{terms['launch']}",
                                f"author-{author}", "list-post"})
        self.assertEqual(everything, 0)
        # The save waited for purgeqd's acknowledgement only.
        self.assertLess(report["flush_s"], 2.0)
        print(f"\n[wordpress] URL set of a sample post ({len(files)} URLs):\n  "
              + "\n  ".join(sorted(files)), file=sys.stderr)

    def test_update_with_a_slug_change_purges_the_old_and_the_new_url(self):
        terms = self.make_terms()
        _, post_id, author = self.make_post(terms)
        self.settle()
        report = self.php(f"return wp_update_post(['ID' => {post_id}, 'post_name' => 'renamed'], true);")
        self.one_intent(report, "high")
        files, tags, _, _ = self.take_purged()
        self.assertEqual(files, self.post_urls("2024/03/hello-purgeq") | self.post_urls("2024/03/renamed"))
        # The title and visibility did not change: listings keep their tags.
        self.assertEqual(tags, {f"post-{post_id}", f"term-{terms['news']}", f"term-{terms['topics']}",
                                f"term-{terms['launch']}", f"author-{author}"})

        report = self.php(f"return wp_update_post(['ID' => {post_id}, 'post_title' => 'New title'], true);")
        self.one_intent(report, "high")
        files, tags, _, _ = self.take_purged()
        self.assertEqual(files, self.post_urls("2024/03/renamed"))
        self.assertIn("list-post", tags, "a new title changes every listing that shows it")

    def test_trash_purges_the_url_the_post_had(self):
        terms = self.make_terms()
        _, post_id, author = self.make_post(terms)
        self.settle()
        report = self.php(f"return (bool) wp_trash_post({post_id});")
        self.assertTrue(report["result"])
        self.one_intent(report, "high")
        files, tags, _, _ = self.take_purged()
        # Not the __trashed slug WordPress renames it to: nobody has that URL cached.
        self.assertEqual(files, self.post_urls("2024/03/hello-purgeq"))
        self.assertEqual(tags, {f"post-{post_id}", f"term-{terms['news']}", f"term-{terms['topics']}",
                                f"term-{terms['launch']}", f"author-{author}", "list-post"})

    def test_unpublish_and_delete_purge_what_the_post_showed(self):
        terms = self.make_terms()
        _, post_id, author = self.make_post(terms)
        _, other_id, _ = self.make_post(terms, post_title="Second", post_name="second")
        self.settle()
        gone = {f"term-{terms['news']}", f"term-{terms['topics']}", f"term-{terms['launch']}",
                f"author-{author}", "list-post"}
        report = self.php(f"return wp_update_post(['ID' => {post_id}, 'post_status' => 'draft'], true);")
        self.one_intent(report, "high")
        files, tags, _, _ = self.take_purged()
        self.assertEqual(files, self.post_urls("2024/03/hello-purgeq"))
        self.assertEqual(tags, gone | {f"post-{post_id}"})
        report = self.php(f"return wp_delete_post({other_id}, true)->ID;")
        self.one_intent(report, "high")
        files, tags, _, _ = self.take_purged()
        self.assertEqual(files, self.post_urls("2024/03/second"))
        self.assertEqual(tags, gone | {f"post-{other_id}"})

    def test_attachment_update_purges_its_page_file_and_parent(self):
        terms = self.make_terms()
        _, post_id, _ = self.make_post(terms)
        attachment = self.php(f"""
            return wp_insert_attachment(['post_title' => 'Diagram', 'post_mime_type' => 'application/pdf',
                                         'post_status' => 'inherit'], '2024/03/diagram.pdf', {post_id});
        """)["result"]
        self.settle()
        report = self.php(f"return wp_update_post(['ID' => {attachment}, 'post_excerpt' => 'A caption'], true);")
        self.one_intent(report, "high")
        files, tags, _, _ = self.take_purged()
        self.assertEqual(files, self.post_urls("2024/03/hello-purgeq") | {
            url("2024/03/hello-purgeq/diagram/"), url("2024/03/hello-purgeq/diagram/feed/"),
            url("wp-content/uploads/2024/03/diagram.pdf")})
        self.assertIn(f"post-{attachment}", tags)
        self.assertIn(f"post-{post_id}", tags)

    def test_set_post_terms_purges_the_terms_it_left_and_joined(self):
        terms = self.make_terms()
        _, post_id, author = self.make_post(terms)
        self.settle()
        report = self.php(f"return wp_set_post_terms({post_id}, [{terms['other']}], 'category');")
        self.one_intent(report, "high")
        files, tags, _, _ = self.take_purged()
        self.assertEqual(files, self.post_urls(
            "2024/03/hello-purgeq",
            terms_paths=("category/other", "category/topics/news", "category/topics", "tag/launch")))
        self.assertEqual(tags, {f"post-{post_id}", f"term-{terms['news']}", f"term-{terms['topics']}",
                                f"term-{terms['other']}", f"term-{terms['launch']}", f"author-{author}"})

    def test_comment_status_changes_purge_the_post_and_the_comments_feed(self):
        terms = self.make_terms()
        _, post_id, author = self.make_post(terms)
        comment_id = self.php(f"""
            return wp_insert_comment(['comment_post_ID' => {post_id}, 'comment_content' => 'First!',
                                      'comment_author' => 'Visitor', 'comment_approved' => 0]);
        """)["result"]
        self.settle()
        post_tags = {f"post-{post_id}", f"term-{terms['news']}", f"term-{terms['topics']}",
                     f"term-{terms['launch']}", f"author-{author}", "comments"}
        for status in ("approve", "hold"):
            with self.subTest(status=status):
                report = self.php(f"return wp_set_comment_status({comment_id}, '{status}');")
                self.assertTrue(report["result"])
                self.one_intent(report, "high")
                files, tags, _, _ = self.take_purged()
                self.assertEqual(files, self.post_urls("2024/03/hello-purgeq"))
                self.assertEqual(tags, post_tags)
        # Spam stays unseen either way: nothing to purge.
        report = self.php(f"return wp_set_comment_status({comment_id}, 'spam');")
        self.assertEqual(report["sent"], [])

    def test_scheduled_publish_from_cron_goes_in_the_bulk_lane(self):
        terms = self.make_terms()
        report, post_id, _ = self.make_post(terms, post_status="future", post_date="2031-01-02 03:04:05")
        self.assertEqual(report["sent"], [], "a scheduled post is not public yet")
        self.settle()
        report = self.php(f"""
            define('DOING_CRON', true);
            wp_publish_post({post_id});
            return get_post_status({post_id});
        """, user=None)
        self.assertEqual(report["result"], "publish")
        self.one_intent(report, "bulk")
        files, _, _, _ = self.take_purged()
        self.assertEqual(files, self.post_urls("2031/01/hello-purgeq", date=("2031", "01", "02")))

    def test_an_import_goes_in_the_bulk_lane_even_for_one_post(self):
        terms = self.make_terms()
        report, _, _ = self.make_post(terms, post_title="Imported", post_name="imported")
        self.one_intent(report, "high")
        report = self.php("define('WP_IMPORTING', true); return wp_insert_post(['post_title' => 'Also imported', "
                          "'post_status' => 'publish']);")
        self.one_intent(report, "bulk")


class SiteEvents(WordPressCase):
    def test_switch_theme_purges_everything_within_the_guard(self):
        self.settle()
        report = self.php("switch_theme('purgeq-b'); return get_stylesheet();")
        self.assertEqual(report["result"], "purgeq-b")
        sent = self.one_intent(report, "high")
        # The zone comes from purgeqd: the one it routes the home URL to.
        self.assertEqual(sent["intent"], {"purge_everything": True, "zone": "a.example",
                                          "priority": "high"})
        files, tags, everything, _ = self.take_purged()
        self.assertEqual((files, tags, everything), (set(), set(), 1))

        # A second one within min_interval: the guard refuses it, the admin hears of it, and what
        # else the request changed is still purged.
        terms = self.make_terms()
        self.settle()
        report = self.php(f"""
            switch_theme('purgeq-a');
            return wp_insert_post(['post_title' => 'Same request', 'post_status' => 'publish',
                                   'post_date' => '2024-03-05 10:00:00', 'post_category' => [{terms['other']}],
                                   'post_author' => get_user_by('login', 'editor')->ID]);
        """)
        self.assertEqual(len(report["failed"]), 1)
        self.assertIn("min_interval", report["failed"][0]["reason"])
        self.assertEqual(len(report["sent"]), 1)
        state = self.daemon.wait_terminal(report["sent"][0]["ids"][0])
        self.assertEqual(state["status"], "done")
        files, _, everything, _ = self.take_purged()
        self.assertEqual(everything, 0)
        self.assertIn(url("2024/03/same-request/"), files)
        notices = self.php("return get_option('purgeq_notices');")["result"]
        self.assertEqual(len(notices), 1)
        self.assertEqual(notices[0]["level"], "warning")
        self.assertIn("everything", notices[0]["reason"])

    def test_menu_save_purges_the_site_host(self):
        self.settle()
        menu = self.php("return wp_create_nav_menu('Main');")["result"]
        self.settle()
        report = self.php(f"""
            $menu = {menu};
            wp_update_nav_menu_item($menu, 0, ['menu-item-title' => 'Home', 'menu-item-url' => home_url('/'),
                                               'menu-item-status' => 'publish']);
            return wp_update_nav_menu_object($menu, ['menu-name' => 'Main menu']);
        """)
        sent = self.one_intent(report, "high")
        self.assertEqual(sent["intent"]["hosts"], ["www.a.example"])
        entries = self.take_purged()[3]
        self.assertEqual([(e["kind"], e["items"]) for e in entries], [("hosts", ["www.a.example"])])

    def test_term_rename_purges_old_and_new_archives(self):
        terms = self.make_terms()
        self.settle()
        report = self.php(f"return wp_update_term({terms['other']}, 'category', ['slug' => 'elsewhere']);")
        self.one_intent(report, "high")
        files, tags, _, _ = self.take_purged()
        self.assertEqual(files, {url("category/other/"), url("category/other/feed/"),
                                 url("category/elsewhere/"), url("category/elsewhere/feed/")})
        self.assertEqual(tags, {f"term-{terms['other']}"})


class Strategies(WordPressCase):
    def test_tags_only(self):
        self.wp.constants["PURGEQ_STRATEGY"] = "tags"
        terms = self.make_terms()
        self.settle()
        report, post_id, author = self.make_post(terms)
        self.one_intent(report, "high")
        files, tags, _, _ = self.take_purged()
        self.assertEqual(files, set())
        self.assertIn(f"post-{post_id}", tags)

    def test_urls_only_sends_no_tags_and_no_cache_tag_header(self):
        self.wp.constants["PURGEQ_STRATEGY"] = "urls"
        terms = self.make_terms()
        self.settle()
        report, post_id, _ = self.make_post(terms)
        self.one_intent(report, "high")
        files, tags, _, _ = self.take_purged()
        self.assertEqual(tags, set())
        self.assertEqual(files, self.post_urls("2024/03/hello-purgeq"))
        status, headers, _ = self.wp.request("GET", "/2024/03/hello-purgeq/")
        self.assertEqual(status, 200)
        self.assertNotIn("cache-tag", headers)


class FrontEnd(WordPressCase):
    def test_cache_tag_headers(self):
        terms = self.make_terms()
        _, post_id, author = self.make_post(terms)
        cases = {
            "/2024/03/hello-purgeq/": f"post-{post_id}",
            "/2024/03/hello-purgeq/2/": f"post-{post_id}",
            "/category/topics/news/": f"term-{terms['news']},list-post",
            "/tag/launch/": f"term-{terms['launch']},list-post",
            "/author/editor/": f"author-{author},list-post",
            "/2024/03/": "list-post",
            "/": "home,list-post",
            "/feed/": "list-post",
            "/category/topics/news/feed/": f"term-{terms['news']},list-post",
            "/comments/feed/": "comments",
        }
        for path, want in cases.items():
            with self.subTest(path=path):
                status, headers, body = self.wp.request("GET", path)
                self.assertEqual(status, 200, body[:500])
                self.assertEqual(headers.get("cache-tag"), want)
        status, headers, _ = self.wp.request("GET", "/no-such-page/")
        self.assertEqual(status, 404)
        self.assertNotIn("cache-tag", headers)

    def test_static_front_page_is_home_and_the_posts_page_lists(self):
        ids = self.php("""
            $front = wp_insert_post(['post_type' => 'page', 'post_title' => 'Welcome', 'post_status' => 'publish']);
            $blog = wp_insert_post(['post_type' => 'page', 'post_title' => 'Blog', 'post_status' => 'publish']);
            update_option('show_on_front', 'page');
            update_option('page_on_front', $front);
            update_option('page_for_posts', $blog);
            return compact('front', 'blog');
        """)["result"]
        status, headers, _ = self.wp.request("GET", "/")
        self.assertEqual((status, headers.get("cache-tag")), (200, f"home,post-{ids['front']}"))
        status, headers, _ = self.wp.request("GET", "/blog/")
        self.assertEqual((status, headers.get("cache-tag")), (200, "list-post"))


class Bulk(WordPressCase):
    POSTS = 500

    def test_bulk_update_of_500_posts_is_one_bulk_intent_in_the_fewest_requests(self):
        created = self.php(f"""
            $ids = [];
            for ($i = 1; $i <= {self.POSTS}; $i++) {{
                $ids[] = wp_insert_post(['post_title' => "Bulk $i", 'post_status' => 'publish',
                                         'post_date' => '2024-03-05 10:00:00'], true);
            }}
            return $ids;
        """)
        self.one_intent(created, "bulk")
        self.settle()
        started = time.monotonic()
        report = self.php(f"""
            foreach (json_decode('{json.dumps(created["result"])}') as $id) {{
                wp_update_post(['ID' => $id, 'post_title' => "Bulk $id edited"]);
            }}
            return count(get_posts(['numberposts' => -1, 's' => 'edited']));
        """)
        request_s = time.monotonic() - started
        self.assertEqual(report["result"], self.POSTS)
        sent = self.one_intent(report, "bulk")
        files, tags, everything, entries = self.take_purged()
        intent = sent["intent"]
        self.assertEqual(set(intent["files"]), files)
        self.assertEqual(set(intent["tags"]), tags)
        self.assertEqual(len(files), len(intent["files"]))
        # Every post's permalink and comments feed, the pages they share once, three listing pages.
        want = {url(f"2024/03/bulk-{i}/") for i in range(1, self.POSTS + 1)}
        want |= {url(f"2024/03/bulk-{i}/feed/") for i in range(1, self.POSTS + 1)}
        want |= {url(""), url("page/2/"), url("page/3/"), url("feed/"), url("comments/feed/"),
                 url("author/editor/"), url("author/editor/feed/"), url("2024/"), url("2024/03/"),
                 url("2024/03/05/"), url("category/uncategorized/"), url("category/uncategorized/feed/")}
        self.assertEqual(files, want)
        author = self.php("return get_user_by('login', 'editor')->ID;")["result"]
        self.assertEqual(tags, {f"post-{i}" for i in created["result"]}
                         | {"term-1", f"author-{author}", "list-post"})
        # acct1 (Enterprise): 500 URLs or 100 tags per request. At most the minimum.
        file_requests = [e for e in entries if e["kind"] == "files"]
        tag_requests = [e for e in entries if e["kind"] == "tags"]
        want_files = math.ceil(len(files) / 500)
        want_tags = math.ceil(len(tags) / 100)
        self.assertLessEqual(len(file_requests), want_files)
        self.assertLessEqual(len(tag_requests), want_tags)
        self.assertEqual(len(entries), len(file_requests) + len(tag_requests))
        print(f"\n[wordpress] bulk update of {self.POSTS} posts in one request ({request_s:.1f} s, "
              f"sending {report['flush_s'] * 1000:.0f} ms): one bulk intent of {sent['items']} items "
              f"({len(files)} URLs, {len(tags)} tags); the fake saw {len(entries)} requests: "
              f"{len(file_requests)} of files (minimum {want_files}), {len(tag_requests)} of tags "
              f"(minimum {want_tags})", file=sys.stderr)


class DaemonDown(WordPressCase):
    def save(self, post_id):
        report = self.php(f"return wp_update_post(['ID' => {post_id}, 'post_title' => 'Edited while down'], true);")
        self.assertEqual(report["result"], post_id, "the save itself succeeded")
        self.assertEqual(report["sent"], [])
        self.assertEqual(len(report["failed"]), 1)
        # The whole save, purgeq's part included, within 2 s.
        self.assertLess(report["code_s"] + report["flush_s"], 2.0, report)
        title = self.php(f"return get_the_title({post_id});")["result"]
        self.assertEqual(title, "Edited while down")
        return report

    def test_stopped_daemon(self):
        terms = self.make_terms()
        _, post_id, _ = self.make_post(terms)
        self.daemon.terminate()
        report = self.save(post_id)
        reason = report["failed"][0]["reason"]
        self.assertRegex(reason, "purgeqd's socket .* (does not exist|refused the connection)")
        self.assertIn("purgeq: purge not queued: " + reason, self.wp.debug_log())
        notices = self.php("return get_option('purgeq_notices');")["result"]
        self.assertEqual(len(notices), 1)
        self.assertEqual(notices[0]["reason"], reason)
        # (Without purgeqd the zone could not be asked for.)
        self.assertRegex(notices[0]["intent"], r"^17 files, 6 tags, lane high: "
                                              r"https://www\.a\.example/2024/03/hello-purgeq/ .* and 18 more$")

    def test_hung_daemon(self):
        terms = self.make_terms()
        _, post_id, _ = self.make_post(terms)
        # Stopped, not gone: connections are accepted by the kernel and never answered.
        self.daemon.proc.send_signal(signal.SIGSTOP)
        self.addCleanup(lambda: self.daemon.proc.send_signal(signal.SIGCONT))
        report = self.save(post_id)
        self.assertRegex(report["failed"][0]["reason"], r"did not answer within 1\.\d s")
        print(f"\n[wordpress] save with a hung purgeqd: WordPress {report['code_s'] * 1000:.0f} ms, "
              f"purgeq {report['flush_s'] * 1000:.0f} ms", file=sys.stderr)

    def test_admin_notice_shows_the_intent_and_reason_and_can_be_dismissed(self):
        terms = self.make_terms()
        _, post_id, _ = self.make_post(terms)
        self.daemon.terminate()
        reason = self.save(post_id)["failed"][0]["reason"]
        cookies = self.wp.login_cookies("admin")
        status, _, page = self.wp.request("GET", "/wp-admin/options-general.php?page=purgeq", cookies=cookies)
        self.assertEqual(status, 200, page[:1000])
        notice = re.search(r'<div class="notice notice-error is-dismissible purgeq-notice" '
                           r'data-purgeq-notice="([0-9a-f-]+)">(.*?)</div>', page, re.S)
        self.assertIsNotNone(notice, "no purgeq notice on the admin page")
        self.assertIn("a purge was not queued", notice.group(2))
        self.assertIn(reason.replace("'", "&#039;"), notice.group(2))
        self.assertIn("https://www.a.example/2024/03/hello-purgeq/", notice.group(2))
        # The page says purgeqd is unreachable, too.
        self.assertIn("purgeqd: purgeqd&#039;s socket", page)
        # What the dismiss button posts.
        nonce = re.search(r'_wpnonce:"([0-9a-f]+)"', page).group(1)
        body = urllib.parse.urlencode({"action": "purgeq_dismiss", "id": notice.group(1), "_wpnonce": nonce})
        status, _, answer = self.wp.request("POST", "/wp-admin/admin-ajax.php", body=body, cookies=cookies)
        self.assertEqual((status, json.loads(answer)), (200, {"success": True, "data": {"dismissed": True}}))
        _, _, page = self.wp.request("GET", "/wp-admin/options-general.php?page=purgeq", cookies=cookies)
        self.assertNotIn("purgeq-notice", page)
        # A forged request does nothing.
        status, _, _ = self.wp.request("POST", "/wp-admin/admin-ajax.php", cookies=cookies,
                                       body=urllib.parse.urlencode({"action": "purgeq_dismiss", "id": "x",
                                                                    "_wpnonce": "0"}))
        self.assertEqual(status, 403)


class SettingsPage(WordPressCase):
    def test_status_of_the_sites_zone_and_pinned_settings(self):
        terms = self.make_terms()
        self.make_post(terms)
        cookies = self.wp.login_cookies("admin")
        status, _, page = self.wp.request("GET", "/wp-admin/options-general.php?page=purgeq", cookies=cookies)
        self.assertEqual(status, 200, page[:1000])
        self.assertIn("<th scope=\"row\">Zone</th><td>a.example</td>", page)
        self.assertIn("pinned by PURGEQ_SOCKET in wp-config.php", page)
        self.assertRegex(page, r'id="purgeq-socket" name="purgeq_settings\[socket\]" value="[^"]+purgeq.sock" disabled')
        self.assertNotIn("pinned by PURGEQ_STRATEGY", page)

        # Saving the form: a good lane is stored, a bad strategy is refused with its reason.
        nonce = re.search(r'name="_wpnonce" value="([0-9a-f]+)"', page).group(1)
        form = urllib.parse.urlencode({
            "option_page": "purgeq", "action": "update", "_wpnonce": nonce,
            "_wp_http_referer": "/wp-admin/options-general.php?page=purgeq",
            "purgeq_settings[strategy]": "fast", "purgeq_settings[lane_bulk]": "normal",
            "purgeq_settings[zone]": "", "purgeq_settings[token]": ""})
        status, headers, _ = self.wp.request("POST", "/wp-admin/options.php", body=form, cookies=cookies)
        self.assertEqual(status, 302)
        location = urllib.parse.urlsplit(headers["location"])
        _, _, page = self.wp.request("GET", f"{location.path}?{location.query}", cookies=cookies)
        self.assertIn("Strategy fast: want one of urls, tags, both.", page)
        stored = self.php("return get_option('purgeq_settings');")["result"]
        self.assertEqual(stored, {"lane_bulk": "normal", "zone": ""})

    def test_options_when_nothing_is_pinned(self):
        # The settings page's option instead of wp-config.php constants.
        del self.wp.constants["PURGEQ_SOCKET"]
        terms = self.make_terms()
        self.assertEqual(len(self.php("return get_option('purgeq_notices');")["result"]), 1,
                         "without a socket setting, the default socket is tried (and missing here)")
        report = self.php("""
            update_option('purgeq_settings', ['strategy' => 'tags', 'lane_single' => 'normal', 'socket' => %s]);
            return [Purgeq\\WordPress\\Settings::strategy(), Purgeq\\WordPress\\Settings::lane('single'),
                    Purgeq\\WordPress\\Settings::lane('bulk'),
                    Purgeq\\WordPress\\Settings::problem('strategy', 'fast'),
                    Purgeq\\WordPress\\Settings::problem('socket', 'run/purgeq.sock'),
                    Purgeq\\WordPress\\Settings::problem('lane_bulk', 'urgent')];
        """ % json.dumps(self.daemon.socket_path))
        self.assertEqual(report["result"], [
            "tags", "normal", "bulk", "Strategy fast: want one of urls, tags, both.",
            "Socket path run/purgeq.sock: want an absolute path, such as /run/purgeq/purgeq.sock.",
            "Lane urgent: want one of high, normal, bulk."])
        self.settle()
        report, post_id, _ = self.make_post(terms)
        self.one_intent(report, "normal")
        files, tags, _, _ = self.take_purged()
        self.assertEqual(files, set())
        self.assertIn(f"post-{post_id}", tags)


if __name__ == "__main__":
    unittest.main()
