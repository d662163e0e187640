<?php
// A dependency-free client for purgeqd's API (docs/api.md): submits purge intents and follows
// them, over the Unix socket or over the TCP listener with a client token. Needs PHP >= 8.1 with
// the curl extension. Every call is bounded by a connect timeout and a total timeout, and every
// failure is a typed exception (PurgeqException): UnreachableException, ApiException with the
// API's code and message, ProtocolException, UsageException.

declare(strict_types=1);

namespace Purgeq;

final class Client
{
    public const DEFAULT_SOCKET = '/run/purgeq/purgeq.sock';
    /** The item kinds, in the order the TCP transport sends them. */
    public const KINDS = ['files', 'tags', 'hosts', 'prefixes', 'purge_everything'];
    public const LANES = ['high', 'normal', 'bulk'];
    public const TERMINAL = ['done', 'failed', 'partial'];
    /** The daemon holds GET /v1/intents/{id}?wait= at most this long. */
    public const MAX_WAIT = 3600;

    /**
     * @param ?string $socket  the Unix socket's path; null for the TCP transport
     * @param ?string $baseUrl TCP: scheme, host and port, without a trailing slash
     * @param ?string $zoneId  TCP: the zone id used when an intent names none
     */
    private function __construct(
        private readonly ?string $socket,
        private readonly ?string $baseUrl,
        private readonly ?string $token,
        private readonly ?string $zoneId,
        private readonly float $timeout,
        private readonly float $connectTimeout,
    ) {
        if (!extension_loaded('curl')) {
            throw new UsageException('the purgeq client needs PHP\'s curl extension (php-curl)');
        }
        if ($timeout <= 0 || $connectTimeout <= 0) {
            throw new UsageException(sprintf('timeouts must be positive seconds, got timeout %s and connect timeout %s', $timeout, $connectTimeout));
        }
    }

    /** A client of the Unix socket: the full API. */
    public static function unix(string $socket = self::DEFAULT_SOCKET, float $timeout = 10.0, float $connectTimeout = 1.0): self
    {
        if ($socket === '') {
            throw new UsageException('the socket path is empty');
        }
        return new self($socket, null, null, null, $timeout, $connectTimeout);
    }

    /**
     * A client of the TCP listener (`tcp.listen`, an `api_clients` token): only submissions, through
     * Cloudflare's route, so one intent per kind, no `priority` (the lane is the API client's) and
     * no intent queries. `$zoneId` is the zone's 32-hex id, used when an intent names no zone.
     */
    public static function tcp(string $baseUrl, string $token, ?string $zoneId = null, float $timeout = 10.0, float $connectTimeout = 1.0): self
    {
        $parts = parse_url($baseUrl);
        if ($parts === false || !in_array($parts['scheme'] ?? '', ['http', 'https'], true) || empty($parts['host'])
            || isset($parts['query']) || isset($parts['fragment']) || isset($parts['user'])) {
            throw new UsageException(sprintf('TCP URL %s: want http(s)://host:port with no query, fragment or user', self::quote($baseUrl)));
        }
        if ($token === '') {
            throw new UsageException('the TCP listener needs a client token (api_clients[].token_file)');
        }
        // A base URL ending in /client/v4 (as SDKs are configured) is accepted too.
        $base = preg_replace('~/(client/v4/?)?$~', '', $baseUrl);
        return new self(null, $base, $token, $zoneId, $timeout, $connectTimeout);
    }

    /** The same client with other timeouts (seconds). */
    public function withTimeout(float $timeout, ?float $connectTimeout = null): self
    {
        return new self($this->socket, $this->baseUrl, $this->token, $this->zoneId, $timeout,
            $connectTimeout ?? min($this->connectTimeout, $timeout));
    }

    public function isTcp(): bool
    {
        return $this->socket === null;
    }

    /** Where this client connects: the socket's path or the TCP URL. */
    public function endpoint(): string
    {
        return $this->socket ?? (string) $this->baseUrl;
    }

    /**
     * Submits one intent: `files` (URLs, or ['url' => ..., 'headers' => [...]]), `tags`, `hosts`,
     * `prefixes`, `purge_everything` => true, and optionally `zone` (name or id; an id over TCP)
     * and `priority` (`high`, `normal`, `bulk`). Empty lists are left out. Returns once purgeqd has
     * stored it.
     *
     * @param array<string, mixed> $intent
     */
    public function purge(array $intent): Receipt
    {
        $body = self::normalize($intent);
        if ($this->socket !== null) {
            $answer = $this->call('POST', '/v1/purge', $body, $this->timeout);
            if (!is_string($answer['id'] ?? null) || !is_int($answer['items'] ?? null)) {
                throw new ProtocolException('POST /v1/purge: the answer has no id and items: ' . self::excerpt(self::quote($answer)));
            }
            return new Receipt([$answer['id']], $answer['items'], is_string($answer['priority'] ?? null) ? $answer['priority'] : null);
        }
        return $this->purgeOverTcp($body);
    }

    /**
     * What a purge would queue, without storing it (POST /v1/expand): ['items' => [...], 'count' =>
     * N, 'variants' => [...]]. Unix socket only.
     *
     * @param array<string, mixed> $intent
     * @return array<string, mixed>
     */
    public function expand(array $intent): array
    {
        $this->requireSocket('POST /v1/expand');
        return $this->call('POST', '/v1/expand', self::normalize($intent), $this->timeout);
    }

    /**
     * An intent's state (GET /v1/intents/{id}); with `$wait` seconds, held until it is terminal or
     * the time is up. Unix socket only.
     *
     * @return array<string, mixed>
     */
    public function intent(string $id, int $wait = 0): array
    {
        $this->requireSocket('GET /v1/intents/{id}');
        if (!preg_match('/^[A-Za-z0-9_-]{1,128}$/', $id)) {
            throw new UsageException(sprintf('intent id %s: want the id a receipt gave', self::quote($id)));
        }
        if ($wait < 0 || $wait > self::MAX_WAIT) {
            throw new UsageException(sprintf('wait %d: want 0 to %d seconds', $wait, self::MAX_WAIT));
        }
        $path = '/v1/intents/' . $id . ($wait > 0 ? '?wait=' . $wait : '');
        return $this->call('GET', $path, null, $this->timeout + $wait);
    }

    /**
     * Follows an intent until it is done, failed or partial, or `$timeout` seconds pass; returns
     * its last state (check `status`). Unix socket only.
     *
     * @return array<string, mixed>
     */
    public function wait(string $id, float $timeout): array
    {
        $deadline = microtime(true) + $timeout;
        while (true) {
            $left = (int) ceil($deadline - microtime(true));
            $state = $this->intent($id, max(1, min($left, self::MAX_WAIT)));
            if (in_array($state['status'] ?? null, self::TERMINAL, true) || microtime(true) >= $deadline) {
                return $state;
            }
        }
    }

    /**
     * The daemon's status (GET /v1/status): queue depth by zone and lane, accounts, errors.
     * Unix socket only.
     *
     * @return array<string, mixed>
     */
    public function status(): array
    {
        $this->requireSocket('GET /v1/status');
        return $this->call('GET', '/v1/status', null, $this->timeout);
    }

    /**
     * The intent as the API wants it: known members only, each of its type, empty kinds dropped.
     *
     * @param array<string, mixed> $intent
     * @return array<string, mixed>
     */
    private static function normalize(array $intent): array
    {
        $body = [];
        foreach ($intent as $key => $value) {
            $where = is_string($key) ? $key : "[$key]";
            switch ($key) {
                case 'files':
                    $files = self::listOf($where, $value, static function (string $at, mixed $file): string|array {
                        if (is_string($file)) {
                            return $file;
                        }
                        if (!is_array($file) || !is_string($file['url'] ?? null)
                            || array_diff(array_keys($file), ['url', 'headers']) !== []) {
                            throw new UsageException("$at: want a URL, or ['url' => URL, 'headers' => [name => value]]");
                        }
                        if (!isset($file['headers'])) {
                            return ['url' => $file['url']];
                        }
                        if (!is_array($file['headers']) || $file['headers'] === []) {
                            throw new UsageException("$at.headers: want a non-empty array of name => value");
                        }
                        foreach ($file['headers'] as $name => $header) {
                            if (!is_string($name) || !is_string($header)) {
                                throw new UsageException("$at.headers: want string names and values");
                            }
                        }
                        // An object in JSON, whatever the keys look like.
                        return ['url' => $file['url'], 'headers' => (object) $file['headers']];
                    });
                    if ($files !== []) {
                        $body['files'] = $files;
                    }
                    break;
                case 'tags':
                case 'hosts':
                case 'prefixes':
                    $items = self::listOf($where, $value, static function (string $at, mixed $item): string {
                        if (!is_string($item)) {
                            throw new UsageException("$at: want a string, got " . get_debug_type($item));
                        }
                        return $item;
                    });
                    if ($items !== []) {
                        $body[$key] = $items;
                    }
                    break;
                case 'purge_everything':
                    if ($value !== true) {
                        throw new UsageException('purge_everything: want true, got ' . self::quote($value));
                    }
                    $body['purge_everything'] = true;
                    break;
                case 'zone':
                    if (!is_string($value) || $value === '') {
                        throw new UsageException('zone: want a zone name or id');
                    }
                    $body['zone'] = $value;
                    break;
                case 'priority':
                    if (!in_array($value, self::LANES, true)) {
                        throw new UsageException('priority: want one of ' . implode(', ', self::LANES) . ', got ' . self::quote($value));
                    }
                    $body['priority'] = $value;
                    break;
                default:
                    throw new UsageException("unknown member $where: want " . implode(', ', self::KINDS) . ', zone or priority');
            }
        }
        if (array_intersect(array_keys($body), self::KINDS) === []) {
            throw new UsageException('nothing to purge: no files, tags, hosts, prefixes or purge_everything');
        }
        return $body;
    }

    /**
     * @param callable(string, mixed): (string|array<string, mixed>) $item
     * @return list<string|array<string, mixed>>
     */
    private static function listOf(string $where, mixed $value, callable $item): array
    {
        if (!is_array($value) || !array_is_list($value)) {
            throw new UsageException("$where: want a list, got " . get_debug_type($value));
        }
        $out = [];
        foreach ($value as $i => $entry) {
            $out[] = $item("{$where}[$i]", $entry);
        }
        return $out;
    }

    /**
     * Cloudflare's route takes one kind per request: one intent per kind, in KINDS order. A failure
     * after some were stored names them, since they will be purged.
     *
     * @param array<string, mixed> $body
     */
    private function purgeOverTcp(array $body): Receipt
    {
        if (isset($body['priority'])) {
            throw new UsageException('priority: the TCP listener takes no priority; an API client\'s lane is its api_clients[].priority');
        }
        $zone = $body['zone'] ?? $this->zoneId;
        if (!is_string($zone) || !preg_match('/^[0-9a-f]{32}$/', $zone)) {
            throw new UsageException(sprintf('zone %s: the TCP listener needs the zone\'s 32-hex id (Client::tcp($url, $token, $zoneId) or the intent\'s zone)', self::quote($zone)));
        }
        $ids = [];
        $items = 0;
        foreach (self::KINDS as $kind) {
            if (!isset($body[$kind])) {
                continue;
            }
            try {
                $answer = $this->call('POST', "/client/v4/zones/$zone/purge_cache", [$kind => $body[$kind]], $this->timeout);
            } catch (ApiException | UnreachableException $e) {
                if ($ids === []) {
                    throw $e;
                }
                $stored = ' (already stored: ' . implode(', ', $ids) . ')';
                if ($e instanceof ApiException) {
                    throw new ApiException($e->httpStatus, $e->errorCode, $e->getMessage() . $stored, $e->item, $e->retryAfter);
                }
                throw new UnreachableException($e->getMessage() . $stored, $e->curlErrno);
            }
            $id = $answer['result']['id'] ?? null;
            if (($answer['success'] ?? null) !== true || !is_string($id)) {
                throw new ProtocolException("POST /client/v4/zones/$zone/purge_cache: no result.id in " . self::excerpt(self::quote($answer)));
            }
            $ids[] = $id;
            $items += $kind === 'purge_everything' ? 1 : count($body[$kind]);
        }
        return new Receipt($ids, $items, null);
    }

    private function requireSocket(string $route): void
    {
        if ($this->socket === null) {
            throw new UsageException("$route is served on the Unix socket only; the TCP listener takes purges only");
        }
    }

    /**
     * One request; the decoded JSON answer of a 2xx, or a typed exception.
     *
     * @param ?array<string, mixed> $body
     * @return array<string, mixed>
     */
    private function call(string $method, string $path, ?array $body, float $timeout): array
    {
        $payload = null;
        if ($body !== null) {
            try {
                $payload = json_encode($body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR);
            } catch (\JsonException $e) {
                throw new UsageException('the intent cannot be sent as JSON: ' . $e->getMessage());
            }
        }
        $headers = ['Accept: application/json', 'Expect:'];
        if ($payload !== null) {
            $headers[] = 'Content-Type: application/json';
        }
        if ($this->token !== null) {
            $headers[] = 'Authorization: Bearer ' . $this->token;
        }
        $retryAfter = null;
        $ch = curl_init(($this->baseUrl ?? 'http://localhost') . $path);
        $options = [
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_HTTPHEADER => $headers,
            CURLOPT_CONNECTTIMEOUT_MS => (int) ceil(min($this->connectTimeout, $timeout) * 1000),
            CURLOPT_TIMEOUT_MS => (int) ceil($timeout * 1000),
            // Millisecond timeouts need this with the synchronous resolver (no SIGALRM).
            CURLOPT_NOSIGNAL => true,
            // The daemon is local: a proxy from the environment must not carry the request.
            CURLOPT_PROXY => '',
            CURLOPT_NOPROXY => '*',
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_HEADERFUNCTION => static function ($ch, string $line) use (&$retryAfter): int {
                if (preg_match('/^Retry-After:\s*(\d+)\s*$/i', $line, $m)) {
                    $retryAfter = (int) $m[1];
                }
                return strlen($line);
            },
        ];
        if ($this->socket !== null) {
            $options[CURLOPT_UNIX_SOCKET_PATH] = $this->socket;
        }
        if ($payload !== null) {
            $options[CURLOPT_POSTFIELDS] = $payload;
        }
        curl_setopt_array($ch, $options);
        $raw = curl_exec($ch);
        $errno = curl_errno($ch);
        $error = curl_error($ch);
        $status = (int) curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
        curl_close($ch);

        if ($raw === false || $errno !== 0) {
            throw new UnreachableException($this->unreachable($errno, $error, $timeout), $errno);
        }
        $answer = json_decode((string) $raw, true);
        if ($status >= 200 && $status < 300) {
            if (!is_array($answer)) {
                throw new ProtocolException("$method $path: HTTP $status with a body that is not a JSON object: " . self::excerpt((string) $raw), $status);
            }
            return $answer;
        }
        throw self::apiError($status, is_array($answer) ? $answer : null, (string) $raw, $retryAfter, "$method $path");
    }

    /** @param ?array<string, mixed> $answer */
    private static function apiError(int $status, ?array $answer, string $raw, ?int $retryAfter, string $request): ApiException|ProtocolException
    {
        // purgeq's own shape: {"error": {"code", "message", "item"}}.
        $error = $answer['error'] ?? null;
        if (is_array($error) && is_string($error['code'] ?? null)) {
            return new ApiException($status, $error['code'], (string) ($error['message'] ?? $error['code']),
                is_string($error['item'] ?? null) ? $error['item'] : null, $retryAfter);
        }
        // Cloudflare's envelope, from the TCP listener: {"success": false, "errors": [{code, message}]}.
        $first = $answer['errors'][0] ?? null;
        if (is_array($first) && isset($first['code'])) {
            return new ApiException($status, (string) $first['code'], (string) ($first['message'] ?? ''), null, $retryAfter);
        }
        return new ProtocolException("$request: HTTP $status: " . self::excerpt($raw), $status);
    }

    /** Why the daemon could not be asked, with what to check. */
    private function unreachable(int $errno, string $error, float $timeout): string
    {
        $where = $this->socket !== null ? "purgeqd's socket $this->socket" : "purgeqd's TCP listener $this->baseUrl";
        if ($errno === CURLE_OPERATION_TIMEDOUT) {
            return sprintf('%s did not answer within %.1f s (%s)', $where, $timeout, $error);
        }
        if ($this->socket !== null) {
            // curl's own text names "localhost port 80", which misleads for a socket.
            clearstatcache(true, $this->socket);
            if (!file_exists($this->socket)) {
                return "$where does not exist: is purgeqd running, and is the path right? (curl error $errno)";
            }
            if (!is_writable($this->socket)) {
                return "$where: permission denied; add this user to the socket's group (usermod -aG purgeq www-data) (curl error $errno)";
            }
            return "$where refused the connection: is purgeqd running? (curl error $errno)";
        }
        return "$where unreachable: $error";
    }

    /** A value as JSON, for messages: strings quoted, slashes as they are. */
    private static function quote(mixed $value): string
    {
        return (string) json_encode($value, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE);
    }

    private static function excerpt(string|false $text): string
    {
        $text = (string) $text;
        return strlen($text) > 300 ? substr($text, 0, 300) . '...' : $text;
    }
}
