<?php
// The caller asked for something the client cannot send: an unknown member, a wrong type, a
// feature the chosen transport lacks. Raised before anything goes over the wire.

declare(strict_types=1);

namespace Purgeq;

final class UsageException extends \InvalidArgumentException implements PurgeqException
{
}
