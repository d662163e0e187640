<?php
// Loads the purgeq client without Composer: require this file, then use Purgeq\Client.
// (Composer users get the same classes through composer.json's PSR-4 autoload.)

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    if (str_starts_with($class, 'Purgeq\\')) {
        $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, strlen('Purgeq\\'))) . '.php';
        if (is_file($file)) {
            require $file;
        }
    }
});
