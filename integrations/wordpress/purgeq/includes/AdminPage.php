<?php
// Settings > purgeq: the connection (socket, or TCP URL and token), the zone, the strategy and
// the lanes, each shown as pinned when wp-config.php defines its constant; and purgeqd's status
// for the site's zone.

declare(strict_types=1);

namespace Purgeq\WordPress;

use Purgeq\Client;
use Purgeq\PurgeqException;

defined('ABSPATH') || exit;

final class AdminPage
{
    public const SLUG = 'purgeq';

    private const LABELS = [
        'socket' => ['Socket', 'purgeqd\'s Unix socket; the web server\'s user must be in its group.'],
        'url' => ['TCP URL', 'Instead of the socket: purgeqd\'s TCP listener (tcp.listen), e.g. http://127.0.0.1:8787. Over TCP each kind is its own intent and the lane is the API client\'s.'],
        'token' => ['Client token', 'The api_clients token for the TCP listener. Left empty, the stored one stays.'],
        'zone' => ['Zone', 'The zone\'s name (its id over TCP). Empty: the zone purgeqd routes this site\'s home URL to.'],
        'strategy' => ['Strategy', 'urls: purge the URLs a change makes stale; tags: purge cache tags (pages carry a Cache-Tag header); both.'],
        'lane_single' => ['Lane for a single save', 'An editor\'s change to one post, term, comment or menu.'],
        'lane_bulk' => ['Lane for bulk changes', 'Bulk edits, imports, WP-CLI and cron (scheduled posts).'],
    ];

    public static function register(string $plugin_basename): void
    {
        add_action('admin_menu', static function (): void {
            add_options_page('purgeq', 'purgeq', 'manage_options', self::SLUG, [self::class, 'render']);
        });
        add_action('admin_init', static function (): void {
            register_setting(self::SLUG, Settings::OPTION, [
                'type' => 'array',
                'sanitize_callback' => [Settings::class, 'sanitize'],
                'default' => [],
            ]);
        });
        add_filter('plugin_action_links_' . $plugin_basename, static function (array $links): array {
            array_unshift($links, sprintf('<a href="%s">%s</a>', esc_url(admin_url('options-general.php?page=' . self::SLUG)), esc_html__('Settings', 'purgeq')));
            return $links;
        });
    }

    public static function render(): void
    {
        if (!current_user_can('manage_options')) {
            return;
        }
        echo '<div class="wrap"><h1>purgeq</h1>';
        settings_errors(Settings::OPTION);
        echo '<form method="post" action="options.php">';
        settings_fields(self::SLUG);
        echo '<table class="form-table" role="presentation">';
        foreach (self::LABELS as $name => [$label, $help]) {
            self::field($name, $label, $help);
        }
        echo '</table>';
        submit_button();
        echo '</form>';
        self::status();
        echo '</div>';
    }

    private static function field(string $name, string $label, string $help): void
    {
        $id = 'purgeq-' . $name;
        $input = sprintf('%s[%s]', Settings::OPTION, $name);
        $value = Settings::get($name);
        $pinned = Settings::pinned($name);
        $disabled = $pinned ? ' disabled' : '';
        echo '<tr><th scope="row"><label for="' . esc_attr($id) . '">' . esc_html($label) . '</label></th><td>';
        if ($name === 'strategy' || str_starts_with($name, 'lane_')) {
            $choices = $name === 'strategy' ? Settings::STRATEGIES : Client::LANES;
            echo '<select id="' . esc_attr($id) . '" name="' . esc_attr($input) . '"' . $disabled . '>';
            foreach ($choices as $choice) {
                printf('<option value="%s"%s>%s</option>', esc_attr($choice), selected($value, $choice, false), esc_html($choice));
            }
            echo '</select>';
        } elseif ($name === 'token') {
            printf('<input type="password" class="regular-text" id="%s" name="%s" value="" autocomplete="off" placeholder="%s"%s>',
                esc_attr($id), esc_attr($input), esc_attr($value !== '' ? '(set)' : ''), $disabled);
        } else {
            printf('<input type="text" class="regular-text code" id="%s" name="%s" value="%s"%s>', esc_attr($id), esc_attr($input), esc_attr($value), $disabled);
        }
        if ($pinned) {
            echo ' <span class="description">' . esc_html(sprintf('pinned by %s in wp-config.php', Settings::FIELDS[$name][0])) . '</span>';
        }
        echo '<p class="description">' . esc_html($help) . '</p></td></tr>';
    }

    /** purgeqd's state for this site's zone: the queue, its lanes, the account, failures. */
    private static function status(): void
    {
        echo '<h2>purgeqd</h2>';
        if (Settings::uses_tcp()) {
            echo '<p>' . esc_html(sprintf('Connected over TCP to %s: purgeqd serves its status on the Unix socket only (purgeq status).', Settings::get('url'))) . '</p>';
            return;
        }
        try {
            $client = Settings::client(2.0);
            $zone = Settings::get('zone');
            if ($zone === '') {
                $expanded = $client->expand(['files' => [home_url('/')]]);
                $zone = (string) ($expanded['items'][0]['zone'] ?? '');
            }
            $status = $client->status();
        } catch (PurgeqException $e) {
            echo '<div class="notice notice-error inline"><p>' . esc_html('purgeqd: ' . $e->getMessage()) . '</p></div>';
            return;
        }
        // The queue lists zones with something pending or in flight.
        $queue = is_array($status['queue'][$zone] ?? null) ? $status['queue'][$zone] : [];
        $rows = [
            'Zone' => $zone !== '' ? $zone : '(none routes ' . home_url('/') . ')',
            'purgeqd' => sprintf('%s, up %s s%s', $status['version'] ?? '?', $status['uptime_seconds'] ?? '?',
                !empty($status['dry_run']) ? ', dry run: batches are logged, not sent' : ''),
            'Pending in this zone' => self::counts($queue, ['file', 'tag', 'host', 'prefix', 'everything', 'in_flight']),
            'Drain estimate' => isset($queue['drain_estimate_s']) ? $queue['drain_estimate_s'] . ' s' : '-',
            'Pending by lane (all zones)' => self::counts((array) ($status['pending_by_lane'] ?? []), Client::LANES),
            'Failed items (all zones)' => (string) ($status['failed_items'] ?? '-'),
        ];
        // The status does not say which account sends for which zone: each account's state.
        foreach ((array) ($status['accounts'] ?? []) as $name => $state) {
            if (!is_array($state)) {
                continue;
            }
            $how = 'sending';
            if (!empty($state['paused'])) {
                $how = 'paused: ' . ($state['pause_reason'] ?? '');
            } elseif (!empty($state['rate_limited_for_ms'])) {
                $how = sprintf('rate limited for %d ms', $state['rate_limited_for_ms']);
            } elseif (!empty($state['backoff_for_ms'])) {
                $how = sprintf('backing off for %d ms after %d failures', $state['backoff_for_ms'], $state['consecutive_failures'] ?? 0);
            }
            $rows["Account $name"] = $how;
        }
        echo '<table class="widefat striped purgeq-status" style="max-width:50em"><tbody>';
        foreach ($rows as $label => $value) {
            printf('<tr><th scope="row">%s</th><td>%s</td></tr>', esc_html($label), esc_html((string) $value));
        }
        echo '</tbody></table>';
        $errors = array_slice((array) ($status['recent_errors'] ?? []), 0, 5);
        if ($errors !== []) {
            echo '<h3>Recent upstream errors</h3><ul>';
            foreach ($errors as $error) {
                echo '<li><code>' . esc_html((string) wp_json_encode($error)) . '</code></li>';
            }
            echo '</ul>';
        }
    }

    /**
     * "file 3, tag 2" from the counts present.
     *
     * @param array<string, mixed> $counts
     * @param list<string>         $keys
     */
    private static function counts(array $counts, array $keys): string
    {
        $parts = [];
        foreach ($keys as $key) {
            if (isset($counts[$key]) && is_int($counts[$key])) {
                $parts[] = "$key {$counts[$key]}";
            }
        }
        return $parts === [] ? '0' : implode(', ', $parts);
    }
}
