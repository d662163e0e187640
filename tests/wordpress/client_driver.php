<?php
// Test driver for the PHP client (integrations/php): evaluates the PHP code on stdin, which may
// use Purgeq\Client, and prints one JSON line: {"result": ..., "exception": {...} | null, "elapsed_s": ...}.
// An exception is described by its class and public properties, as a caller would read them.

declare(strict_types=1);

require dirname(__DIR__, 2) . '/integrations/php/autoload.php';

$code = stream_get_contents(STDIN);
$out = ['result' => null, 'exception' => null];
$started = microtime(true);
try {
    $out['result'] = (static fn() => eval($code))();
} catch (Throwable $e) {
    $out['exception'] = ['class' => get_class($e), 'message' => $e->getMessage(),
        'purgeq' => $e instanceof Purgeq\PurgeqException] + get_object_vars($e);
    if ($e instanceof Purgeq\UnreachableException) {
        $out['exception']['timeout'] = $e->isTimeout();
    }
}
$out['elapsed_s'] = microtime(true) - $started;
echo json_encode($out, JSON_UNESCAPED_SLASHES), "\n";
