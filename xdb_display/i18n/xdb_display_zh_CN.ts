<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
  <context>
    <name>Board</name>
    <message>
      <source>Exit Display Board</source>
      <translation>出口显示屏</translation>
    </message>
  </context>
</TS>
