<?php
// php-cgi: the query and a form body reach $_GET and $_POST.
header('Content-Type: application/json');
echo json_encode([
    'method' => $_SERVER['REQUEST_METHOD'],
    'get' => $_GET,
    'post' => $_POST,
]);
