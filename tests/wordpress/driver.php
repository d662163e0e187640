<?php
// Test driver: one PHP request against the test site (tests/wordpress/wp_site.py). Runs the PHP
// code given on stdin inside WordPress, as the user PURGEQ_WP_USER when set, and prints one line
// at the very end of shutdown, after the plugin sent its intent:
//   @@purgeq-driver@@{"result": ..., "error": ..., "sent": [...], "failed": [...], "code_s": ..., "flush_s": ...}
// `php driver.php install` loads WordPress in installing mode (for wp_install()).

$site = getenv('PURGEQ_WP_SITE');
if (!$site || !is_file("$site/wp-load.php")) {
    fwrite(STDERR, "driver: PURGEQ_WP_SITE must name the test site\n");
    exit(2);
}
// What a request to the site behind a TLS-terminating proxy looks like.
$_SERVER['HTTP_HOST'] = $_SERVER['SERVER_NAME'] = 'www.a.example';
$_SERVER['HTTP_X_FORWARDED_PROTO'] = 'https';
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['REQUEST_METHOD'] = 'GET';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';
$_SERVER['REMOTE_ADDR'] = '127.0.0.1';
if (($argv[1] ?? '') === 'install') {
    define('WP_INSTALLING', true);
}
$code = stream_get_contents(STDIN);
$report = ['result' => null, 'error' => null, 'sent' => [], 'failed' => []];

require "$site/wp-load.php";

add_action('purgeq_sent', static function ($receipt, $intent, $lane) use (&$report): void {
    $report['sent'][] = ['ids' => $receipt->ids, 'items' => $receipt->items, 'priority' => $receipt->priority,
        'intent' => $intent, 'lane' => $lane];
}, 10, 3);
add_action('purgeq_failed', static function ($reason, $intent, $lane) use (&$report): void {
    $report['failed'][] = ['reason' => $reason, 'intent' => $intent, 'lane' => $lane];
}, 10, 3);
// The plugin sends at shutdown priority 100: time it from 99 to 101.
add_action('shutdown', static function () use (&$report): void {
    $report['flush_started'] = microtime(true);
}, 99);
add_action('shutdown', static function () use (&$report): void {
    $report['flush_s'] = microtime(true) - $report['flush_started'];
    unset($report['flush_started']);
}, 101);
register_shutdown_function(static function () use (&$report): void {
    // Registered after WordPress's own shutdown function, so it runs after every shutdown hook.
    echo "\n@@purgeq-driver@@" . json_encode($report, JSON_UNESCAPED_SLASHES | JSON_PARTIAL_OUTPUT_ON_ERROR) . "\n";
});

$login = getenv('PURGEQ_WP_USER');
if ($login) {
    $user = get_user_by('login', $login);
    if (!$user) {
        $report['error'] = "no user $login";
        exit(0);
    }
    wp_set_current_user($user->ID);
}
$started = microtime(true);
try {
    $report['result'] = eval($code);
} catch (Throwable $e) {
    $report['error'] = get_class($e) . ': ' . $e->getMessage() . ' at ' . $e->getFile() . ':' . $e->getLine();
}
$report['code_s'] = microtime(true) - $started;
