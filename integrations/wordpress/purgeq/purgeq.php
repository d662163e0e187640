<?php
/**
 * Plugin Name:       purgeq
 * Description:       Purges Cloudflare's cache when content changes, through purgeqd: one durable, paced intent per request, with the URLs and cache tags each change makes stale.
 * Version:           0.1.0
 * Requires at least: 6.1
 * Requires PHP:      8.1
 * Author:            purgeq maintainers
 * Text Domain:       purgeq
 */

// Bootstrap: loads the purgeq PHP client (lib/, a link to the client the package installs beside
// the plugin) and the plugin's classes, and wires them to WordPress. docs/wordpress.md says how
// to install and configure it.

declare(strict_types=1);

defined('ABSPATH') || exit;

if (!is_file(__DIR__ . '/lib/autoload.php')) {
    // A copy made without following lib/'s link; say what to do instead of failing the site.
    add_action('admin_notices', static function (): void {
        echo '<div class="notice notice-error"><p><strong>purgeq:</strong> the PHP client is missing from '
            . esc_html(__DIR__ . '/lib/') . '. Install the plugin as docs/wordpress.md says (a link to '
            . '/usr/share/purgeq/integrations/wordpress/purgeq, or a copy made with cp -rL).</p></div>';
    });
    return;
}
require_once __DIR__ . '/lib/autoload.php';
require_once __DIR__ . '/includes/Urls.php';
require_once __DIR__ . '/includes/Settings.php';
require_once __DIR__ . '/includes/Changes.php';
require_once __DIR__ . '/includes/Events.php';
require_once __DIR__ . '/includes/Notices.php';
require_once __DIR__ . '/includes/Sender.php';
require_once __DIR__ . '/includes/CacheTags.php';
require_once __DIR__ . '/includes/AdminPage.php';

(static function (): void {
    $changes = new Purgeq\WordPress\Changes();
    (new Purgeq\WordPress\Events($changes))->register();
    // Late, after other plugins' shutdown work changed what they would.
    add_action('shutdown', [new Purgeq\WordPress\Sender($changes), 'flush'], 100, 0);
    Purgeq\WordPress\CacheTags::register();
    Purgeq\WordPress\Notices::register();
    Purgeq\WordPress\AdminPage::register(plugin_basename(__FILE__));
})();
