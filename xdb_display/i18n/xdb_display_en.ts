<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en">
  <context>
    <name>Board</name>
    <message>
      <source>Exit Display Board</source>
      <translation>Exit Display Board</translation>
    </message>
  </context>
</TS>
