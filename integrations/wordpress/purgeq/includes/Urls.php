<?php
// What a change makes stale: the URLs and cache tags of a post, a term, an attachment or the whole
// site, read from WordPress's own link functions so that they match what visitors requested.
// Pure reads: nothing here writes or sends.

declare(strict_types=1);

namespace Purgeq\WordPress;

defined('ABSPATH') || exit;

final class Urls
{
    /** Pages of the main posts listing purged after the first (a new post shifts them all). */
    public const LISTING_PAGES = 3;

    /**
     * Whether visitors can see the post: published and of a viewable type (attachments: their
     * page exists while their parent, if any, is published). Revisions and autosaves never are.
     */
    public static function is_public(\WP_Post $post): bool
    {
        if (wp_is_post_revision($post) || wp_is_post_autosave($post) || !is_post_type_viewable($post->post_type)) {
            return false;
        }
        if ($post->post_type === 'attachment') {
            $parent = $post->post_parent ? get_post($post->post_parent) : null;
            return $post->post_status === 'inherit' && ($parent === null || $parent->post_status === 'publish');
        }
        return $post->post_status === 'publish';
    }

    /**
     * The post types that the main listings show (home, main feed, author and date archives):
     * WordPress lists only posts unless a plugin changes its queries, and then it can say so
     * with the `purgeq_listed_post_types` filter.
     *
     * @return list<string>
     */
    public static function listed_types(): array
    {
        return array_values((array) apply_filters('purgeq_listed_post_types', ['post']));
    }

    /**
     * Every URL whose page shows the post: its permalink and paginated pages, its comments feed,
     * the home page and posts page (with the next listing pages), the main and comments feeds,
     * the post type archive and its feed, its terms' archives (with their ancestors, whose
     * archives list it too) and feeds, its author's archive and feed, its date archives.
     * Attachments add their file and every image size. Filter: `purgeq_post_urls`.
     *
     * @return list<string>
     */
    public static function post_urls(\WP_Post $post): array
    {
        $urls = [];
        $permalink = get_permalink($post);
        if (is_string($permalink) && $permalink !== '') {
            $urls[] = $permalink;
            $pages = count(explode('<!--nextpage-->', $post->post_content));
            for ($page = 2; $page <= $pages; $page++) {
                $urls[] = self::post_page_url($post, $permalink, $page);
            }
        }
        $urls[] = get_post_comments_feed_link($post->ID);
        $urls[] = get_feed_link('comments_rss2');

        $listed = in_array($post->post_type, self::listed_types(), true);
        if ($listed) {
            array_push($urls, ...self::listing_urls());
            $urls[] = get_feed_link();
            $author = (int) $post->post_author;
            if ($author > 0) {
                $urls[] = get_author_posts_url($author);
                $urls[] = get_author_feed_link($author);
            }
            // post_date is the site's local time, which is what date archives use.
            if (preg_match('/^(\d{4})-(\d{2})-(\d{2})/', $post->post_date, $date) && $date[1] !== '0000') {
                $urls[] = get_year_link((int) $date[1]);
                $urls[] = get_month_link((int) $date[1], (int) $date[2]);
                $urls[] = get_day_link((int) $date[1], (int) $date[2], (int) $date[3]);
            }
        }
        // Posts' "archive" is the home page, above; only types with an archive of their own.
        $type = get_post_type_object($post->post_type);
        $archive = $type instanceof \WP_Post_Type && $type->has_archive ? get_post_type_archive_link($post->post_type) : false;
        if (is_string($archive) && $archive !== '') {
            $urls[] = $archive;
            $urls[] = get_post_type_archive_feed_link($post->post_type);
        }
        foreach (self::post_terms($post) as $term) {
            array_push($urls, ...self::term_urls($term));
        }
        if ($post->post_type === 'attachment') {
            array_push($urls, ...self::attachment_files($post->ID));
        }
        return self::clean(apply_filters('purgeq_post_urls', $urls, $post));
    }

    /**
     * The post's cache tags: `post-<id>`, `term-<id>` of its terms and their ancestors,
     * `author-<id>`, and `list-<type>` when its place in listings changed (it appeared, went, or
     * changed title). Filter: `purgeq_post_tags`.
     *
     * @return list<string>
     */
    public static function post_tags(\WP_Post $post, bool $listing_changed): array
    {
        $tags = ['post-' . $post->ID];
        foreach (self::post_terms($post) as $term) {
            $tags[] = 'term-' . $term->term_id;
        }
        if ((int) $post->post_author > 0 && in_array($post->post_type, self::listed_types(), true)) {
            $tags[] = 'author-' . (int) $post->post_author;
        }
        if ($listing_changed) {
            $tags[] = 'list-' . $post->post_type;
        }
        return self::clean(apply_filters('purgeq_post_tags', $tags, $post, $listing_changed));
    }

    /**
     * A term archive and its feed.
     *
     * @return list<string>
     */
    public static function term_urls(\WP_Term $term): array
    {
        $link = get_term_link($term);
        $feed = get_term_feed_link($term->term_id, $term->taxonomy);
        return self::clean([is_string($link) ? $link : '', is_string($feed) ? $feed : '']);
    }

    /** Whether a taxonomy's archives are pages visitors see. */
    public static function is_public_taxonomy(string $taxonomy): bool
    {
        $object = get_taxonomy($taxonomy);
        return $object instanceof \WP_Taxonomy && $object->public && $object->publicly_queryable;
    }

    /**
     * The home page (or the posts page) and the next pages of that listing, as far as there are
     * published posts to fill them, up to LISTING_PAGES.
     *
     * @return list<string>
     */
    public static function listing_urls(): array
    {
        $urls = [home_url('/')];
        $base = home_url('/');
        if (get_option('show_on_front') === 'page') {
            $posts_page = (int) get_option('page_for_posts');
            $link = $posts_page > 0 ? get_permalink($posts_page) : false;
            if (!is_string($link) || $link === '') {
                return $urls;
            }
            $urls[] = $base = $link;
        }
        $published = 0;
        foreach (self::listed_types() as $type) {
            $published += (int) (wp_count_posts($type)->publish ?? 0);
        }
        $per_page = max(1, (int) get_option('posts_per_page'));
        $pages = min(self::LISTING_PAGES, (int) ceil($published / $per_page));
        for ($page = 2; $page <= $pages; $page++) {
            $urls[] = self::paged_url($base, $page);
        }
        return $urls;
    }

    /**
     * What covers every page of the site: its host, or the path prefix of a site in a
     * subdirectory (`www.example.com/blog/`), for changes shown on every page (menus).
     *
     * @return array{hosts?: list<string>, prefixes?: list<string>}
     */
    public static function site_scope(): array
    {
        $home = wp_parse_url(home_url('/'));
        $host = strtolower((string) ($home['host'] ?? ''));
        $path = trim((string) ($home['path'] ?? ''), '/');
        if ($host === '') {
            return [];
        }
        return $path === '' ? ['hosts' => [$host]] : ['prefixes' => [$host . '/' . $path . '/']];
    }

    /**
     * An attachment's file and each of its image sizes.
     *
     * @return list<string>
     */
    public static function attachment_files(int $id): array
    {
        $urls = [wp_get_attachment_url($id)];
        if (wp_attachment_is_image($id)) {
            foreach (get_intermediate_image_sizes() as $size) {
                $src = wp_get_attachment_image_src($id, $size);
                if (is_array($src)) {
                    $urls[] = $src[0];
                }
            }
        }
        return self::clean($urls);
    }

    /**
     * The post's terms in public taxonomies, with their ancestors (a category archive lists its
     * subcategories' posts).
     *
     * @return list<\WP_Term>
     */
    private static function post_terms(\WP_Post $post): array
    {
        $terms = [];
        foreach (get_object_taxonomies($post->post_type) as $taxonomy) {
            if (!self::is_public_taxonomy($taxonomy)) {
                continue;
            }
            $assigned = get_the_terms($post, $taxonomy);
            if (!is_array($assigned)) {
                continue;
            }
            foreach ($assigned as $term) {
                foreach (self::with_ancestors($term) as $listing) {
                    $terms[$listing->term_id] = $listing;
                }
            }
        }
        return array_values($terms);
    }

    /**
     * The term and its ancestors, nearest first: the archives that list the term's posts.
     *
     * @return list<\WP_Term>
     */
    public static function with_ancestors(\WP_Term $term): array
    {
        $terms = [$term];
        foreach (get_ancestors($term->term_id, $term->taxonomy, 'taxonomy') as $ancestor) {
            $parent = get_term($ancestor, $term->taxonomy);
            if ($parent instanceof \WP_Term) {
                $terms[] = $parent;
            }
        }
        return $terms;
    }

    /** Page N of a post split with <!--nextpage-->, spelled as _wp_link_page() does. */
    private static function post_page_url(\WP_Post $post, string $permalink, int $page): string
    {
        global $wp_rewrite;
        if (get_option('permalink_structure') === '' || !$wp_rewrite instanceof \WP_Rewrite) {
            return add_query_arg('page', $page, $permalink);
        }
        if (get_option('show_on_front') === 'page' && (int) get_option('page_on_front') === $post->ID) {
            return trailingslashit($permalink) . user_trailingslashit("$wp_rewrite->pagination_base/$page", 'single_paged');
        }
        return trailingslashit($permalink) . user_trailingslashit((string) $page, 'single_paged');
    }

    /** Page N of a listing, spelled as get_pagenum_link() does. */
    private static function paged_url(string $base, int $page): string
    {
        global $wp_rewrite;
        if (get_option('permalink_structure') === '' || !$wp_rewrite instanceof \WP_Rewrite) {
            return add_query_arg('paged', $page, $base);
        }
        return trailingslashit($base) . user_trailingslashit("$wp_rewrite->pagination_base/$page", 'paged');
    }

    /**
     * Strings only, no empties, each once, in first-seen order.
     *
     * @param mixed $items
     * @return list<string>
     */
    public static function clean(mixed $items): array
    {
        $out = [];
        foreach ((array) $items as $item) {
            if (is_string($item) && $item !== '') {
                $out[$item] = true;
            }
        }
        // (Keys that look like integers come back as integers.)
        return array_map('strval', array_keys($out));
    }
}
