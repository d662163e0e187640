<?php
// What purgeqd acknowledged for one submission: the intent id(s), the items stored and the lane.
// Over the Unix socket a submission is one intent; over the TCP listener, which takes one kind per
// request (Cloudflare's endpoint), it is one intent per kind.

declare(strict_types=1);

namespace Purgeq;

final class Receipt
{
    /**
     * @param list<string> $ids      one id per intent stored, in submission order
     * @param int          $items    items stored (after cache-key variants and duplicates)
     * @param ?string      $priority the lane (`high`, `normal`, `bulk`); null over TCP, where the
     *                               lane is the API client's and the answer does not say
     */
    public function __construct(
        public readonly array $ids,
        public readonly int $items,
        public readonly ?string $priority,
    ) {
    }

    /** The intent id, for the usual single-intent receipt. */
    public function id(): string
    {
        if (count($this->ids) !== 1) {
            throw new UsageException(sprintf('this receipt holds %d intents: read ids', count($this->ids)));
        }
        return $this->ids[0];
    }
}
