<?php
// purgeqd (or whatever listens there) answered something that is not the API: not JSON, or JSON
// without the members the API promises.

declare(strict_types=1);

namespace Purgeq;

final class ProtocolException extends \RuntimeException implements PurgeqException
{
    public function __construct(string $message, public readonly int $httpStatus = 0)
    {
        parent::__construct($message);
    }
}
