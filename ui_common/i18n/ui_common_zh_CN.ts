<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
  <context>
    <name>Instruction</name>
    <message>
      <source>Bundled for another control point: see officer</source>
      <translation>捆绑的是另一管制站，请见关员</translation>
    </message>
    <message>
      <source>DROP MANIFEST</source>
      <translation>请投入舱单</translation>
    </message>
    <message>
      <source>Drive on to the exit</source>
      <translation>请驶往出口</translation>
    </message>
    <message>
      <source>Drive up to the booth</source>
      <translation>请驶至检查亭</translation>
    </message>
    <message>
      <source>Earliest crossing time {time}</source>
      <translation>最早过境时间 {time}</translation>
    </message>
    <message>
      <source>Empty truck: press Unladen. Laden: see officer</source>
      <translation>空车请按「空车」键；载货请见关员</translation>
    </message>
    <message>
      <source>Go to inspection bay {bay}</source>
      <translation>请驶往 {bay} 号查验台</translation>
    </message>
    <message>
      <source>INSPECTION</source>
      <translation>查验</translation>
    </message>
    <message>
      <source>Instruction expired</source>
      <translation>指示已过期</translation>
    </message>
    <message>
      <source>Lane controller not responding</source>
      <translation>车道控制器没有响应</translation>
    </message>
    <message>
      <source>Lane controller offline</source>
      <translation>车道控制器离线</translation>
    </message>
    <message>
      <source>Lane offline</source>
      <translation>车道离线</translation>
    </message>
    <message>
      <source>NO BUNDLE</source>
      <translation>没有捆绑记录</translation>
    </message>
    <message>
      <source>No connection to the lane</source>
      <translation>与车道失去连线</translation>
    </message>
    <message>
      <source>Offline mode</source>
      <translation>离线模式</translation>
    </message>
    <message>
      <source>Online</source>
      <translation>连线正常</translation>
    </message>
    <message>
      <source>PROCEED</source>
      <translation>放行</translation>
    </message>
    <message>
      <source>Put the paper manifest in the drop box</source>
      <translation>请把纸本舱单投入收集箱</translation>
    </message>
    <message>
      <source>READY</source>
      <translation>准备就绪</translation>
    </message>
    <message>
      <source>STOP</source>
      <translation>停车</translation>
    </message>
    <message>
      <source>See a customs officer</source>
      <translation>请见海关人员</translation>
    </message>
    <message>
      <source>TOO EARLY</source>
      <translation>未到过境时间</translation>
    </message>
    <message>
      <source>WRONG CONTROL POINT</source>
      <translation>管制站不符</translation>
    </message>
    <message>
      <source>Waiting for the lane</source>
      <translation>等待车道指示</translation>
    </message>
    <message>
      <source>Instruction unreadable</source>
      <translation>无法读取指示</translation>
    </message>
  </context>
</TS>
