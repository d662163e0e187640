<?php
// purgeqd could not be asked, or did not answer in time: the socket is missing or refused, the
// connection failed, or the timeout passed. Nothing is known to be stored.

declare(strict_types=1);

namespace Purgeq;

final class UnreachableException extends \RuntimeException implements PurgeqException
{
    /** @param int $curlErrno curl's error number (CURLE_*), 0 when curl did not say */
    public function __construct(string $message, public readonly int $curlErrno = 0)
    {
        parent::__construct($message);
    }

    public function isTimeout(): bool
    {
        return $this->curlErrno === CURLE_OPERATION_TIMEDOUT;
    }
}
