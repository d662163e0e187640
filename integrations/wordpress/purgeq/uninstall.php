<?php
// Removing the plugin removes what it stored: its settings, its notices and the zone it found.

declare(strict_types=1);

defined('WP_UNINSTALL_PLUGIN') || exit;

delete_option('purgeq_settings');
delete_option('purgeq_notices');
delete_transient('purgeq_zone');
