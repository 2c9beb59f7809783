# tests of the wireshark part: filled in when it lands
