<?php
// The plugin's settings: each one from its wp-config.php constant when defined (pinned), else
// from the `purgeq_settings` option the settings page writes, else its default; and the purgeq
// client they describe.

declare(strict_types=1);

namespace Purgeq\WordPress;

use Purgeq\Client;

defined('ABSPATH') || exit;

final class Settings
{
    public const OPTION = 'purgeq_settings';
    public const STRATEGIES = ['urls', 'tags', 'both'];

    /** Setting => [wp-config.php constant, default]. */
    public const FIELDS = [
        'socket' => ['PURGEQ_SOCKET', Client::DEFAULT_SOCKET],
        'url' => ['PURGEQ_URL', ''],
        'token' => ['PURGEQ_TOKEN', ''],
        'zone' => ['PURGEQ_ZONE', ''],
        'strategy' => ['PURGEQ_STRATEGY', 'both'],
        'lane_single' => ['PURGEQ_LANE_SINGLE', 'high'],
        'lane_bulk' => ['PURGEQ_LANE_BULK', 'bulk'],
    ];

    public static function get(string $name): string
    {
        [$constant, $default] = self::FIELDS[$name];
        if (defined($constant)) {
            return (string) constant($constant);
        }
        $stored = get_option(self::OPTION, []);
        $value = is_array($stored) ? ($stored[$name] ?? null) : null;
        return is_string($value) && $value !== '' ? $value : $default;
    }

    public static function pinned(string $name): bool
    {
        return defined(self::FIELDS[$name][0]);
    }

    public static function strategy(): string
    {
        $strategy = self::get('strategy');
        return in_array($strategy, self::STRATEGIES, true) ? $strategy : self::FIELDS['strategy'][1];
    }

    public static function uses_urls(): bool
    {
        return self::strategy() !== 'tags';
    }

    public static function uses_tags(): bool
    {
        return self::strategy() !== 'urls';
    }

    /** The lane for `single` (an editor's save) or `bulk` changes; a wrong value falls back. */
    public static function lane(string $kind): string
    {
        $lane = self::get("lane_$kind");
        return in_array($lane, Client::LANES, true) ? $lane : self::FIELDS["lane_$kind"][1];
    }

    /** TCP when a URL is set (it needs the token), else the Unix socket. */
    public static function uses_tcp(): bool
    {
        return self::get('url') !== '';
    }

    /**
     * A client bounded by `$timeout` seconds in all (connecting included).
     *
     * @throws \Purgeq\UsageException when the settings do not describe a client
     */
    public static function client(float $timeout): Client
    {
        $connect = min(0.5, $timeout);
        if (self::uses_tcp()) {
            $zone = self::get('zone');
            return Client::tcp(self::get('url'), self::get('token'), $zone !== '' ? $zone : null, $timeout, $connect);
        }
        return Client::unix(self::get('socket'), $timeout, $connect);
    }

    /**
     * Checks what the settings page submitted; a refused value keeps the stored one and says why.
     *
     * @param mixed $input
     * @return array<string, string>
     */
    public static function sanitize($input): array
    {
        $stored = get_option(self::OPTION, []);
        $out = is_array($stored) ? $stored : [];
        $input = is_array($input) ? $input : [];
        foreach (array_keys(self::FIELDS) as $name) {
            if (!array_key_exists($name, $input) || self::pinned($name)) {
                continue;
            }
            $value = trim(wp_unslash((string) $input[$name]));
            if ($name === 'token' && $value === '') {
                continue; // the form never shows the token: empty keeps it
            }
            $problem = self::problem($name, $value);
            if ($problem !== null) {
                add_settings_error(self::OPTION, "purgeq_$name", $problem);
                continue;
            }
            $out[$name] = $value;
        }
        return $out;
    }

    /** Why a value cannot be used for a setting, or null when it can. */
    public static function problem(string $name, string $value): ?string
    {
        switch ($name) {
            case 'socket':
                return $value === '' || $value[0] === '/' ? null
                    : sprintf('Socket path %s: want an absolute path, such as %s.', $value, Client::DEFAULT_SOCKET);
            case 'url':
                if ($value === '') {
                    return null;
                }
                $parts = wp_parse_url($value);
                return is_array($parts) && in_array($parts['scheme'] ?? '', ['http', 'https'], true) && !empty($parts['host'])
                    && !isset($parts['query']) && !isset($parts['fragment'])
                    ? null : sprintf('TCP URL %s: want http://host:port, such as http://127.0.0.1:8787.', $value);
            case 'strategy':
                return in_array($value, self::STRATEGIES, true) ? null
                    : sprintf('Strategy %s: want one of %s.', $value, implode(', ', self::STRATEGIES));
            case 'lane_single':
            case 'lane_bulk':
                return in_array($value, Client::LANES, true) ? null
                    : sprintf('Lane %s: want one of %s.', $value, implode(', ', Client::LANES));
            default:
                return null;
        }
    }
}
