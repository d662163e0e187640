<?php
// Everything one PHP request changed, gathered as WordPress fires its events and resolved once,
// at shutdown, into the items of a single intent. A post's URLs and tags are read twice: as it
// was before the request first changed it (old permalink, old terms, old author) and as it is at
// the end, so a slug change or a move between categories purges both.

declare(strict_types=1);

namespace Purgeq\WordPress;

defined('ABSPATH') || exit;

final class Changes
{
    /**
     * Posts that were public when this request first changed them: their state then.
     *
     * @var array<int, array{type: string, title: string, urls: list<string>, tags: list<string>}>
     */
    private array $before = [];
    /** @var array<int, ?string> post id => its status before this request changed it, if known */
    private array $posts = [];
    /** @var array<int, true> posts changed themselves, not only shown with what changed */
    private array $direct = [];
    /** @var array<string, true> */
    private array $urls = [];
    /** @var array<string, true> */
    private array $tags = [];
    /** @var array<string, array<string, true>> `hosts` or `prefixes` => values */
    private array $scope = [];
    private bool $everything = false;

    /**
     * The post changed (its final state is read at shutdown); `$old_status` when known.
     * `$direct` false: it only shows what changed (an attachment's parent), which does not make
     * a change a bulk one.
     */
    public function touch_post(int $id, ?string $old_status = null, bool $direct = true): void
    {
        if (!array_key_exists($id, $this->posts) || $this->posts[$id] === null) {
            $this->posts[$id] = $old_status;
        }
        if ($direct) {
            $this->direct[$id] = true;
        }
    }

    /** The post is about to change: keep what it showed until now, the first time only. */
    public function capture_before(\WP_Post $post): void
    {
        $this->touch_post($post->ID, $post->post_status);
        if (isset($this->before[$post->ID]) || !Urls::is_public($post)) {
            return;
        }
        $this->before[$post->ID] = [
            'type' => $post->post_type,
            'title' => $post->post_title,
            'urls' => Urls::post_urls($post),
            'tags' => Urls::post_tags($post, false),
        ];
    }

    /** @param list<string> $urls */
    public function add_urls(array $urls): void
    {
        foreach ($urls as $url) {
            $this->urls[$url] = true;
        }
    }

    /** @param list<string> $tags */
    public function add_tags(array $tags): void
    {
        foreach ($tags as $tag) {
            $this->tags[$tag] = true;
        }
    }

    /** @param array{hosts?: list<string>, prefixes?: list<string>} $scope */
    public function add_scope(array $scope): void
    {
        foreach ($scope as $kind => $values) {
            foreach ($values as $value) {
                $this->scope[$kind][$value] = true;
            }
        }
    }

    public function everything(): void
    {
        $this->everything = true;
    }

    public function wants_everything(): bool
    {
        return $this->everything;
    }

    /** How many posts this request changed: more than one is a bulk change. */
    public function post_count(): int
    {
        return count($this->direct);
    }

    public function is_empty(): bool
    {
        return !$this->everything && $this->posts === [] && $this->urls === [] && $this->tags === [] && $this->scope === [];
    }

    /**
     * The items to purge, without purge_everything: URLs and tags as the strategy asks (an empty
     * list when it does not), hosts and prefixes always.
     *
     * @return array{files: list<string>, tags: list<string>, hosts: list<string>, prefixes: list<string>}
     */
    public function items(bool $with_urls, bool $with_tags): array
    {
        $urls = $this->urls;
        $tags = $this->tags;
        foreach ($this->posts as $id => $old_status) {
            $before = $this->before[$id] ?? null;
            $now = get_post($id);
            $now_public = $now instanceof \WP_Post && Urls::is_public($now);
            // A post touched without a known earlier status (a comment, a term) kept its status.
            $was_public = $before !== null || $old_status === 'publish' || ($old_status === null && $now_public);
            if ($before !== null) {
                $urls += array_fill_keys($before['urls'], true);
                $tags += array_fill_keys($before['tags'], true);
            }
            $listing_changed = $was_public !== $now_public
                || ($before !== null && $now_public && $before['title'] !== $now->post_title);
            if ($now_public) {
                $urls += array_fill_keys(Urls::post_urls($now), true);
                $tags += array_fill_keys(Urls::post_tags($now, $listing_changed), true);
            } elseif ($listing_changed) {
                $type = $before['type'] ?? ($now instanceof \WP_Post ? $now->post_type : 'post');
                $tags['list-' . $type] = true;
            }
        }
        return [
            'files' => $with_urls ? Urls::clean(array_keys($urls)) : [],
            'tags' => $with_tags ? Urls::clean(array_keys($tags)) : [],
            'hosts' => Urls::clean(array_keys($this->scope['hosts'] ?? [])),
            'prefixes' => Urls::clean(array_keys($this->scope['prefixes'] ?? [])),
        ];
    }
}
