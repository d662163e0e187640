<?php
// Which WordPress events change what visitors see, and what each one adds to this request's
// Changes: posts (publish, update, unpublish, trash, delete, scheduled publish, slug changes),
// their terms, comments, terms themselves, attachments, menus, and the theme (purge-everything).

declare(strict_types=1);

namespace Purgeq\WordPress;

defined('ABSPATH') || exit;

final class Events
{
    public function __construct(private readonly Changes $changes)
    {
    }

    public function register(): void
    {
        // Posts. Before an update or a deletion the post still shows its old URLs and terms;
        // a status change in or out of `publish` (scheduled publishing included) marks it.
        add_action('pre_post_update', [$this, 'before_post_update'], 10, 1);
        // Trashing renames the slug (`__trashed`) before pre_post_update: catch it earlier.
        add_action('wp_trash_post', [$this, 'before_post_update'], 10, 1);
        add_action('before_delete_post', [$this, 'before_post_delete'], 10, 1);
        add_action('transition_post_status', [$this, 'post_status'], 10, 3);
        add_action('set_object_terms', [$this, 'object_terms'], 10, 6);
        // Attachments (their status is `inherit`, so the status hooks above miss them).
        add_action('attachment_updated', [$this, 'attachment_updated'], 10, 3);
        add_action('delete_attachment', [$this, 'before_post_delete'], 10, 1);
        // Comments: visible ones only.
        add_action('transition_comment_status', [$this, 'comment_status'], 10, 3);
        add_action('comment_post', [$this, 'comment_posted'], 10, 2);
        add_action('edit_comment', [$this, 'comment_edited'], 10, 1);
        // Terms.
        add_action('created_term', [$this, 'term_created'], 10, 3);
        add_action('edit_terms', [$this, 'before_term_edit'], 10, 2);
        add_action('edited_term', [$this, 'term_edited'], 10, 3);
        add_action('pre_delete_term', [$this, 'before_term_delete'], 10, 2);
        // Menus show on every page: the site's host (or path prefix).
        add_action('wp_update_nav_menu', [$this, 'site_changed'], 10, 0);
        add_action('wp_update_nav_menu_item', [$this, 'site_changed'], 10, 0);
        add_action('wp_delete_nav_menu', [$this, 'site_changed'], 10, 0);
        // Theme: everything, which purgeq's purge-everything guard may refuse.
        add_action('switch_theme', [$this->changes, 'everything'], 10, 0);
        add_action('customize_save_after', [$this->changes, 'everything'], 10, 0);
    }

    public function before_post_update($id): void
    {
        $id = (int) $id;
        $post = get_post($id);
        if ($post instanceof \WP_Post && self::watched($post)) {
            $this->changes->capture_before($post);
        }
    }

    public function before_post_delete($id): void
    {
        $id = (int) $id;
        $post = get_post($id);
        if ($post instanceof \WP_Post && $post->post_type === 'nav_menu_item') {
            $this->site_changed();
        } elseif ($post instanceof \WP_Post && self::watched($post)) {
            $this->changes->capture_before($post);
            $this->touch_parent($post);
        }
    }

    public function post_status($new_status, $old_status, $post): void
    {
        if ($post instanceof \WP_Post && ($new_status === 'publish' || $old_status === 'publish') && self::watched($post)) {
            $this->changes->touch_post($post->ID, (string) $old_status);
        }
    }

    /**
     * @param array<int|string> $terms
     * @param list<int>         $tt_ids
     * @param list<int>         $old_tt_ids
     */
    public function object_terms($object_id, $terms, $tt_ids, $taxonomy, $append, $old_tt_ids): void
    {
        $taxonomy = (string) $taxonomy;
        $post = get_post((int) $object_id);
        if (!$post instanceof \WP_Post || !self::watched($post) || !Urls::is_public($post)
            || !Urls::is_public_taxonomy($taxonomy)) {
            return;
        }
        $new = array_map('intval', (array) $tt_ids);
        $old = array_map('intval', (array) $old_tt_ids);
        $changed = array_merge(array_diff($old, $new), array_diff($new, $old));
        if ($changed === []) {
            return;
        }
        $this->changes->touch_post($post->ID);
        // A term the post left (and its parents) still lists it until purged; the new ones are
        // among its terms.
        foreach ($changed as $tt_id) {
            $term = get_term_by('term_taxonomy_id', $tt_id, $taxonomy);
            if ($term instanceof \WP_Term) {
                foreach (Urls::with_ancestors($term) as $listing) {
                    $this->term($listing);
                }
            }
        }
    }

    public function attachment_updated($id, $after, $before): void
    {
        if ($after instanceof \WP_Post && $before instanceof \WP_Post && self::watched($before)) {
            $this->changes->capture_before($before);
            $this->changes->touch_post((int) $id);
            $this->touch_parent($after);
        }
    }

    public function comment_status($new_status, $old_status, $comment): void
    {
        if ($comment instanceof \WP_Comment && $new_status !== $old_status && ($new_status === 'approved' || $old_status === 'approved')) {
            $this->comment_changed((int) $comment->comment_post_ID);
        }
    }

    /** @param int|string $approved 1, 0, 'spam' or 'trash' */
    public function comment_posted($id, $approved): void
    {
        $comment = get_comment((int) $id);
        if ($comment instanceof \WP_Comment && (string) $approved === '1') {
            $this->comment_changed((int) $comment->comment_post_ID);
        }
    }

    public function comment_edited($id): void
    {
        $comment = get_comment((int) $id);
        if ($comment instanceof \WP_Comment && $comment->comment_approved === '1') {
            $this->comment_changed((int) $comment->comment_post_ID);
        }
    }

    public function term_created($term_id, $tt_id, $taxonomy): void
    {
        // Nothing listed it yet, but its archive may be cached as a 404.
        $term = get_term((int) $term_id, (string) $taxonomy);
        if ($term instanceof \WP_Term && Urls::is_public_taxonomy($term->taxonomy)) {
            $this->changes->add_urls(Urls::term_urls($term));
        }
    }

    public function before_term_edit($term_id, $taxonomy): void
    {
        $term = get_term((int) $term_id, (string) $taxonomy);
        if ($term instanceof \WP_Term && Urls::is_public_taxonomy($term->taxonomy)) {
            $this->term($term);
        }
    }

    public function term_edited($term_id, $tt_id, $taxonomy): void
    {
        clean_term_cache((int) $term_id, (string) $taxonomy);
        $term = get_term((int) $term_id, (string) $taxonomy);
        if ($term instanceof \WP_Term && Urls::is_public_taxonomy($term->taxonomy)) {
            $this->term($term);
        }
    }

    public function before_term_delete($term_id, $taxonomy): void
    {
        $this->before_term_edit($term_id, $taxonomy);
    }

    public function site_changed(): void
    {
        $this->changes->add_scope(Urls::site_scope());
    }

    /** A comment shows on its post's page and feeds, and its count on listings. */
    private function comment_changed(int $post_id): void
    {
        $post = get_post($post_id);
        if ($post instanceof \WP_Post && self::watched($post) && Urls::is_public($post)) {
            $this->changes->touch_post($post_id);
            $this->changes->add_tags(['comments']);
        }
    }

    private function term(\WP_Term $term): void
    {
        $this->changes->add_urls(Urls::term_urls($term));
        $this->changes->add_tags(['term-' . $term->term_id]);
    }

    /** An attachment shows on its parent's page. */
    private function touch_parent(\WP_Post $post): void
    {
        if ($post->post_type === 'attachment' && $post->post_parent) {
            $parent = get_post($post->post_parent);
            if ($parent instanceof \WP_Post && Urls::is_public($parent)) {
                $this->changes->touch_post($parent->ID, null, false);
            }
        }
    }

    /** Post types visitors can see; never revisions or autosaves. */
    private static function watched(\WP_Post $post): bool
    {
        return is_post_type_viewable($post->post_type) && !wp_is_post_revision($post) && !wp_is_post_autosave($post);
    }
}
