<?php
// The Cache-Tag header of front-end pages, so that a tag purge reaches every page showing a post,
// a term or an author, however many URLs that is: `post-<id>` on singles, `home` on the front
// page, `term-<id>` and `author-<id>` on their archives, `list-<post type>` on every page that
// lists posts, `comments` on the site's comments feed.

declare(strict_types=1);

namespace Purgeq\WordPress;

defined('ABSPATH') || exit;

final class CacheTags
{
    public static function register(): void
    {
        // `wp` runs once the main query is known and before any output.
        add_action('wp', [self::class, 'send'], 10, 0);
    }

    public static function send(): void
    {
        if (!Settings::uses_tags() || is_admin() || headers_sent()) {
            return;
        }
        $tags = self::current();
        if ($tags !== []) {
            header('Cache-Tag: ' . implode(',', $tags));
        }
    }

    /**
     * The tags of the page the main query describes. Filter: `purgeq_cache_tags`.
     *
     * @return list<string>
     */
    public static function current(): array
    {
        $tags = [];
        if (is_404()) {
            return [];
        }
        if (is_front_page()) {
            $tags[] = 'home';
        }
        if (is_singular()) {
            $id = get_queried_object_id();
            if ($id > 0) {
                $tags[] = 'post-' . $id;
            }
        } elseif (is_comment_feed()) {
            $tags = ['comments'];
        } elseif (is_home() || is_archive() || is_search() || is_feed()) {
            $object = get_queried_object();
            $types = Urls::listed_types();
            if ($object instanceof \WP_Term) {
                $tags[] = 'term-' . $object->term_id;
                $taxonomy = get_taxonomy($object->taxonomy);
                $types = $taxonomy instanceof \WP_Taxonomy ? $taxonomy->object_type : [];
            } elseif ($object instanceof \WP_User) {
                $tags[] = 'author-' . $object->ID;
            } elseif (is_post_type_archive()) {
                $types = (array) get_query_var('post_type');
            }
            foreach ($types as $type) {
                if (is_string($type) && is_post_type_viewable($type)) {
                    $tags[] = 'list-' . $type;
                }
            }
        }
        return Urls::clean(apply_filters('purgeq_cache_tags', $tags));
    }
}
