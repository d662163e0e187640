<?php
// Sends this request's Changes to purgeqd as one intent, at shutdown, in the lane the request
// deserves. It never holds a save up for more than BUDGET seconds (every request to purgeqd
// together) and never lets a failure reach the user's save: failures go to the PHP error log
// and to an admin notice, with the intent and the reason.

declare(strict_types=1);

namespace Purgeq\WordPress;

use Purgeq\ApiException;
use Purgeq\Client;
use Purgeq\PurgeqException;
use Purgeq\Receipt;

defined('ABSPATH') || exit;

final class Sender
{
    /** Seconds a request may spend talking to purgeqd, at most; `purgeq_timeout` lowers it. */
    public const BUDGET = 1.5;
    public const MAX_BUDGET = 2.0;
    /** Where the zone found for the site's home URL is kept (a day). */
    public const ZONE_TRANSIENT = 'purgeq_zone';

    private float $deadline = 0.0;

    public function __construct(private readonly Changes $changes)
    {
    }

    /** The shutdown hook. */
    public function flush(): void
    {
        if ($this->changes->is_empty()) {
            return;
        }
        $intent = [];
        $lane = null;
        try {
            $lane = self::lane($this->changes);
            $intent = array_filter($this->changes->items(Settings::uses_urls(), Settings::uses_tags()));
            $intent = (array) apply_filters('purgeq_intent', $intent, $lane);
            // The budget is for waiting on purgeqd; reading the URLs of a bulk change is the
            // change's own work.
            $budget = (float) apply_filters('purgeq_timeout', self::BUDGET);
            $this->deadline = microtime(true) + max(0.1, min(self::MAX_BUDGET, $budget));
            $this->send($intent, $lane);
        } catch (\Throwable $e) {
            // Whatever went wrong, the save itself is done: report, never rethrow.
            $this->report('error', $intent, $lane, $e instanceof PurgeqException ? $e->getMessage()
                : sprintf('%s: %s (%s:%d)', get_class($e), $e->getMessage(), basename($e->getFile()), $e->getLine()));
        }
    }

    /**
     * `bulk` settings lane for WP-CLI, cron (scheduled posts included), imports and any request
     * that changed several posts (bulk edits); the `single` lane for an editor's change; else
     * none, and purgeqd applies its default for the web server's user.
     */
    public static function lane(Changes $changes): ?string
    {
        $bulk = (defined('WP_CLI') && WP_CLI) || wp_doing_cron() || (defined('WP_IMPORTING') && WP_IMPORTING)
            || $changes->post_count() > 1;
        if ($bulk) {
            return Settings::lane('bulk');
        }
        return current_user_can('edit_posts') ? Settings::lane('single') : null;
    }

    /** @param array<string, mixed> $intent */
    private function send(array $intent, ?string $lane): void
    {
        $client = $this->client();
        $extra = [];
        if ($lane !== null && !$client->isTcp()) {
            $extra['priority'] = $lane;
        }
        if ($this->changes->wants_everything() || isset($intent['tags'])) {
            $zone = $this->zone($client);
            if ($zone !== null) {
                $extra['zone'] = $zone;
            }
        }
        if ($this->changes->wants_everything()) {
            $everything = ['purge_everything' => true] + $extra;
            try {
                // It covers every other item of the zone, so nothing else needs sending.
                $this->sent($this->client()->purge($everything), $everything, $lane);
                return;
            } catch (ApiException $e) {
                if ($e->errorCode !== 'everything_too_soon' && $e->errorCode !== '10429') {
                    throw $e;
                }
                // purgeq's guard decides how often the zone may be emptied: say so, and still
                // send what this request changed besides.
                $this->report('warning', $everything, $lane, $e->getMessage());
                if ($intent === []) {
                    return;
                }
            }
        }
        if ($intent === []) {
            return;
        }
        $intent += $extra;
        $this->sent($this->client()->purge($intent), $intent, $lane);
    }

    /** A client bounded by what is left of the budget. */
    private function client(): Client
    {
        $left = $this->deadline - microtime(true);
        if ($left < 0.05) {
            throw new \Purgeq\UnreachableException(sprintf('no time left within the %.1f s a save may wait for purgeqd', self::MAX_BUDGET));
        }
        return Settings::client($left);
    }

    /**
     * The zone for tags and purge-everything: the setting, else the zone purgeqd routes the
     * site's home URL to (asked once a day). Over TCP only the setting (a zone id) can say.
     */
    private function zone(Client $client): ?string
    {
        $zone = Settings::get('zone');
        if ($zone !== '' || $client->isTcp()) {
            return $zone !== '' ? $zone : null;
        }
        $home = home_url('/');
        $known = get_transient(self::ZONE_TRANSIENT);
        if (is_array($known) && ($known['home'] ?? null) === $home && is_string($known['zone'] ?? null)) {
            return $known['zone'];
        }
        $answer = $client->expand(['files' => [$home]]);
        $zone = $answer['items'][0]['zone'] ?? null;
        if (!is_string($zone)) {
            return null;
        }
        set_transient(self::ZONE_TRANSIENT, ['home' => $home, 'zone' => $zone], DAY_IN_SECONDS);
        return $zone;
    }

    /** @param array<string, mixed> $intent */
    private function sent(Receipt $receipt, array $intent, ?string $lane): void
    {
        do_action('purgeq_sent', $receipt, $intent, $lane);
    }

    /** @param array<string, mixed> $intent */
    private function report(string $level, array $intent, ?string $lane, string $reason): void
    {
        $summary = Notices::summary($intent, $lane);
        error_log(sprintf('purgeq: %s: %s; intent: %s', $level === 'error' ? 'purge not queued' : 'purge-everything refused', $reason, $summary));
        Notices::add($level, $intent, $lane, $reason);
        do_action('purgeq_failed', $reason, $intent, $lane);
    }
}
