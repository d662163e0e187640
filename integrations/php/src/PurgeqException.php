<?php
// Every error the client raises implements this, so a caller can catch them all in one clause.

declare(strict_types=1);

namespace Purgeq;

interface PurgeqException extends \Throwable
{
}
