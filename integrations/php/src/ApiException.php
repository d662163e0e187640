<?php
// purgeqd answered with an error: the HTTP status, the API's error code and message, the item
// that broke a rule (when one did) and Retry-After (for 429 and 503, when sent).

declare(strict_types=1);

namespace Purgeq;

final class ApiException extends \RuntimeException implements PurgeqException
{
    /**
     * @param string $errorCode the API's code (`host_not_in_zone`, `queue_full`, ...); over the TCP
     *                          listener Cloudflare's numeric code as a string (`10000`)
     */
    public function __construct(
        public readonly int $httpStatus,
        public readonly string $errorCode,
        string $message,
        public readonly ?string $item = null,
        public readonly ?int $retryAfter = null,
    ) {
        parent::__construct($message);
    }

    /** True when trying the same request later may succeed (the daemon asked for it). */
    public function isRetryable(): bool
    {
        return $this->httpStatus === 429 || $this->httpStatus === 503;
    }
}
