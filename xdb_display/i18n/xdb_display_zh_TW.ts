<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_TW">
  <context>
    <name>Board</name>
    <message>
      <source>Exit Display Board</source>
      <translation>出口顯示屏</translation>
    </message>
  </context>
</TS>
