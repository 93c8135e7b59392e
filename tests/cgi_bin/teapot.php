<?php
// php-cgi turns http_response_code() into a Status header.
http_response_code(418);
header('Content-Type: text/plain');
echo "short and stout\n";
