<?php
// info.php: a PHP page run by php-cgi through CGI/1.1.
//
// microcgi runs php-cgi with SCRIPT_FILENAME pointing here and REDIRECT_STATUS=200
// (php-cgi refuses to run without it: cgi.force_redirect). Everything a visitor
// sent is escaped with htmlspecialchars() before it reaches the page.

header_remove('X-Powered-By');
header('Content-Type: text/html; charset=utf-8');
header('Cache-Control: no-store');

function e($value)
{
    return htmlspecialchars((string) $value, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
}

// $_GET and $_POST values may be arrays (?a[]=1&a[]=2), so render them recursively.
function render_params(array $params)
{
    if (count($params) === 0) {
        return "<p class=\"none\">(none)</p>\n";
    }
    $rows = '';
    foreach ($params as $key => $value) {
        $shown = is_array($value) ? render_params($value) : '<code>' . e($value) . '</code>';
        $rows .= '<tr><th>' . e($key) . '</th><td>' . $shown . "</td></tr>\n";
    }
    return "<table>\n" . $rows . "</table>\n";
}

$method = $_SERVER['REQUEST_METHOD'] ?? 'GET';
$self = $_SERVER['SCRIPT_NAME'] ?? 'info.php';
?>
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>PHP through CGI · microcgi</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 2rem auto;
         padding: 0 1rem; color: #1d232b; background: #f7f8fa; }
  h1 { font-size: 1.6rem; }
  h2 { font-size: 1.15rem; margin-top: 1.6rem; }
  table { border-collapse: collapse; background: #fff; }
  th, td { border: 1px solid #d9dee5; padding: .3rem .6rem; text-align: left;
           vertical-align: top; }
  code { font-family: ui-monospace, monospace; white-space: pre-wrap; }
  .none { color: #6b7480; }
  form { background: #fff; border: 1px solid #d9dee5; border-radius: 8px; padding: 1rem; }
  input { font: inherit; padding: .3rem; }
  button { font: inherit; padding: .3rem .9rem; border: 0; border-radius: 4px;
           background: #2458b8; color: #fff; cursor: pointer; }
</style>
</head>
<body>
<h1>PHP through CGI</h1>
<table>
<tr><th>PHP version</th><td id="php-version"><?= e(PHP_VERSION) ?></td></tr>
<tr><th>Server API</th><td><?= e(PHP_SAPI) ?></td></tr>
<tr><th>Request method</th><td id="method"><?= e($method) ?></td></tr>
<tr><th>Server software</th><td><?= e($_SERVER['SERVER_SOFTWARE'] ?? '') ?></td></tr>
</table>

<h2>Query parameters ($_GET)</h2>
<?= render_params($_GET) ?>

<h2>Form fields ($_POST)</h2>
<?= render_params($_POST) ?>

<h2>Post something back to this page</h2>
<form method="post" action="<?= e($self) ?>?from=form">
  <label>Colour <input name="colour" value="blue"></label>
  <label>Note <input name="note" placeholder="&lt;b&gt;bold?&lt;/b&gt;"></label>
  <button type="submit">POST</button>
</form>
<p><a href="/">← back to the demos</a></p>
</body>
</html>
