# tests of the daemon part: filled in when it lands
