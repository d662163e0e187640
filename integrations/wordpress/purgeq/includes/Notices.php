<?php
// Admin notices for purges that could not be queued (or a purge-everything the guard refused):
// kept in an option until someone dismisses them, shown to everyone who edits content, each
// with what was to be purged and why it was not.

declare(strict_types=1);

namespace Purgeq\WordPress;

defined('ABSPATH') || exit;

final class Notices
{
    public const OPTION = 'purgeq_notices';
    /** The newest notices kept; older ones go. */
    public const MAX = 20;
    public const ACTION = 'purgeq_dismiss';
    /** Items of an intent shown in its notice. */
    private const SAMPLE = 5;

    public static function register(): void
    {
        add_action('admin_notices', [self::class, 'render']);
        add_action('wp_ajax_' . self::ACTION, [self::class, 'ajax_dismiss']);
    }

    /**
     * @param 'error'|'warning'       $level
     * @param array<string, mixed>    $intent
     */
    public static function add(string $level, array $intent, ?string $lane, string $reason): void
    {
        $notices = self::all();
        array_unshift($notices, [
            'id' => wp_generate_uuid4(),
            'time' => time(),
            'level' => $level,
            'intent' => self::summary($intent, $lane),
            'reason' => $reason,
        ]);
        update_option(self::OPTION, array_slice($notices, 0, self::MAX), false);
    }

    /** @return list<array{id: string, time: int, level: string, intent: string, reason: string}> */
    public static function all(): array
    {
        $notices = get_option(self::OPTION, []);
        return is_array($notices) ? array_values($notices) : [];
    }

    public static function dismiss(string $id): bool
    {
        $notices = self::all();
        $kept = array_values(array_filter($notices, static fn(array $n): bool => $n['id'] !== $id));
        if (count($kept) === count($notices)) {
            return false;
        }
        update_option(self::OPTION, $kept, false);
        return true;
    }

    /**
     * "3 files, 2 tags, lane high: https://..., post-7": what the intent held.
     *
     * @param array<string, mixed> $intent
     */
    public static function summary(array $intent, ?string $lane): string
    {
        $counts = [];
        $sample = [];
        foreach (['files', 'tags', 'hosts', 'prefixes'] as $kind) {
            if (!empty($intent[$kind]) && is_array($intent[$kind])) {
                $counts[] = count($intent[$kind]) . ' ' . $kind;
                foreach ($intent[$kind] as $item) {
                    $sample[] = is_array($item) ? (string) ($item['url'] ?? '') : (string) $item;
                }
            }
        }
        if (!empty($intent['purge_everything'])) {
            $counts[] = 'purge_everything';
        }
        $text = ($counts === [] ? 'nothing' : implode(', ', $counts)) . ', lane ' . ($lane ?? 'default');
        if (isset($intent['zone'])) {
            $text .= ', zone ' . $intent['zone'];
        }
        if ($sample !== []) {
            $more = count($sample) - self::SAMPLE;
            $text .= ': ' . implode(' ', array_slice($sample, 0, self::SAMPLE)) . ($more > 0 ? " and $more more" : '');
        }
        return $text;
    }

    public static function render(): void
    {
        if (!current_user_can('edit_posts')) {
            return;
        }
        $notices = self::all();
        if ($notices === []) {
            return;
        }
        foreach ($notices as $notice) {
            $refused = $notice['level'] === 'warning';
            printf(
                '<div class="notice notice-%s is-dismissible purgeq-notice" data-purgeq-notice="%s"><p><strong>purgeq:</strong> %s %s</p><p>%s <code>%s</code> <a href="%s" class="purgeq-dismiss">%s</a></p></div>',
                $refused ? 'warning' : 'error',
                esc_attr($notice['id']),
                esc_html($refused ? 'purgeqd refused the purge-everything:' : 'a purge was not queued, so visitors may see stale pages:'),
                esc_html($notice['reason']),
                esc_html(sprintf('%s UTC, intent:', gmdate('Y-m-d H:i:s', (int) $notice['time']))),
                esc_html($notice['intent']),
                esc_url(wp_nonce_url(admin_url('admin-ajax.php?action=' . self::ACTION . '&id=' . rawurlencode($notice['id'])), self::ACTION)),
                esc_html__('Dismiss', 'purgeq')
            );
        }
        // The dismiss button WordPress adds to is-dismissible notices only hides them; this
        // forgets them too.
        printf(
            '<script>document.addEventListener("click",function(e){var b=e.target.closest(".purgeq-notice .notice-dismiss");if(!b)return;var n=b.closest(".purgeq-notice");fetch(%s,{method:"POST",credentials:"same-origin",body:new URLSearchParams({action:%s,id:n.dataset.purgeqNotice,_wpnonce:%s})});});</script>',
            wp_json_encode(admin_url('admin-ajax.php')),
            wp_json_encode(self::ACTION),
            wp_json_encode(wp_create_nonce(self::ACTION))
        );
    }

    /** POST (the button) or GET (the link) admin-ajax.php?action=purgeq_dismiss&id=...&_wpnonce=... */
    public static function ajax_dismiss(): void
    {
        check_ajax_referer(self::ACTION);
        if (!current_user_can('edit_posts')) {
            wp_send_json_error(['message' => 'you may not dismiss purgeq notices'], 403);
        }
        $id = isset($_REQUEST['id']) ? sanitize_text_field(wp_unslash((string) $_REQUEST['id'])) : '';
        $found = self::dismiss($id);
        if ('GET' === ($_SERVER['REQUEST_METHOD'] ?? '')) {
            wp_safe_redirect(wp_get_referer() ?: admin_url());
            exit;
        }
        wp_send_json_success(['dismissed' => $found]);
    }
}
